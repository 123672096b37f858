#!/usr/bin/env python3
"""Reads a DICOM SEG written by utx-edge with an independent reader (highdicom)
and checks it against the labels of the same scan segmented as NIfTI.

    python3 tests/check_dicom_seg.py SEG.dcm SERIES_DIR REFERENCE_LABELS.nii.gz CLASS_NAMES_JSON

For every source slice (found by its SOP Instance UID through highdicom's
frame-to-source mapping), the expected labels are taken from the reference
NIfTI through world coordinates computed from the *source* slice's own
ImagePositionPatient / ImageOrientationPatient / PixelSpacing, so a SEG whose
frames are flipped (front to back, left to right) or shifted by a slice fails.
Prints one JSON line with what it checked; exits non-zero on any mismatch.
"""

import json
import os
import sys

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom

SNOMED = {
    "spleen": "78961009",
    "kidney_right": "9846003",
    "kidney_left": "18639004",
    "gallbladder": "28231008",
    "liver": "10200004",
    "stomach": "69695003",
    "pancreas": "15776009",
}


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def main():
    seg_path, series_dir, ref_path, names_json = sys.argv[1:5]
    names = json.loads(names_json)
    seg = hd.seg.segread(seg_path)
    if seg.Modality != "SEG" or seg.SegmentationType != "BINARY":
        fail("not a binary SEG")
    for tag in ("PatientName", "PatientID", "StudyInstanceUID", "FrameOfReferenceUID"):
        if tag not in seg:
            fail(f"{tag} missing")

    # Segments: number = label value, coded anatomy.
    for item in seg.SegmentSequence:
        n = int(item.SegmentNumber)
        cat = item.SegmentedPropertyCategoryCodeSequence[0]
        typ = item.SegmentedPropertyTypeCodeSequence[0]
        if (cat.CodeValue, cat.CodingSchemeDesignator) != ("123037004", "SCT"):
            fail(f"segment {n}: category {cat.CodeValue}")
        want = SNOMED.get(names[n])
        if want and (typ.CodeValue, typ.CodingSchemeDesignator) != (want, "SCT"):
            fail(f"segment {n} ({names[n]}): type code {typ.CodeValue}, expected {want}")
        if item.SegmentLabel != names[n]:
            fail(f"segment {n}: label {item.SegmentLabel}")

    # The source slices, by SOP Instance UID.
    sources = {}
    for dirpath, _, files in os.walk(series_dir):
        for f in files:
            try:
                ds = pydicom.dcmread(os.path.join(dirpath, f), stop_before_pixels=True)
            except Exception:
                continue
            if ds.SeriesInstanceUID == seg.ReferencedSeriesSequence[0].SeriesInstanceUID:
                sources[ds.SOPInstanceUID] = ds
    refs = [i.ReferencedSOPInstanceUID for i in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence]
    if sorted(refs) != sorted(sources):
        fail(f"ReferencedInstanceSequence names {len(refs)} instances, the series has {len(sources)}")

    ref = nib.load(ref_path)
    labels = np.asarray(ref.dataobj).astype(np.int32)
    inv = np.linalg.inv(ref.affine)
    shared = seg.SharedFunctionalGroupsSequence[0]
    seg_iop = [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient]

    # Per frame: the position must be the referenced source slice's own.
    for f in seg.PerFrameFunctionalGroupsSequence:
        uid = f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        pos = [float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient]
        src = [float(v) for v in sources[uid].ImagePositionPatient]
        if np.abs(np.subtract(pos, src)).max() > 1e-3:
            fail(f"frame for {uid} at {pos}, source slice at {src}")

    checked, mismatched, per_class = compare(seg, sources, labels, inv, seg_iop)
    if mismatched:
        fail(f"{mismatched} of {checked} pixels differ from the NIfTI result")

    # The comparison itself must catch the classic bug: the same SEG with its
    # frames flipped front to back.
    ds = pydicom.dcmread(seg_path)
    frames = ds.pixel_array.reshape(-1, ds.Rows, ds.Columns)
    packed = pydicom.pixels.pack_bits(frames[:, ::-1, :].ravel())
    ds.PixelData = packed + (b"\0" if len(packed) % 2 else b"")
    _, flipped, _ = compare(hd.seg.Segmentation.from_dataset(ds), sources, labels, inv, seg_iop)
    if flipped == 0:
        fail("a front-to-back flipped SEG would have passed")
    print(json.dumps({"frames": int(seg.NumberOfFrames), "slices": len(sources), "pixels": checked,
                      "voxels_per_class": per_class, "pixels_wrong_if_flipped": flipped}))


def compare(seg, sources, labels, inv, seg_iop):
    """(pixels checked, pixels differing, voxels per class) of `seg` against the reference."""
    uids = list(sources)
    segments = [int(i.SegmentNumber) for i in seg.SegmentSequence]
    got = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=uids,
        segment_numbers=segments,
        combine_segments=True,
        skip_overlap_checks=True,
    )
    checked, mismatched, per_class = 0, 0, {}
    for n, uid in enumerate(uids):
        ds = sources[uid]
        iop = np.array([float(v) for v in ds.ImageOrientationPatient])
        if np.abs(iop - seg_iop).max() > 1e-4:
            fail("SEG orientation differs from the source's")
        rs, cs = (float(v) for v in ds.PixelSpacing)
        ipp = np.array([float(v) for v in ds.ImagePositionPatient])
        r, c = np.meshgrid(np.arange(ds.Rows), np.arange(ds.Columns), indexing="ij")
        world = ipp[None, None, :] + c[..., None] * iop[:3] * cs + r[..., None] * iop[3:] * rs
        ras = world * np.array([-1.0, -1.0, 1.0])
        vox = np.einsum("ij,rcj->rci", inv[:3, :3], ras) + inv[:3, 3]
        idx = np.rint(vox).astype(int)
        if np.abs(vox - idx).max() > 1e-2:
            fail("source slice pixels are not on the reference grid")
        expected = labels[idx[..., 0], idx[..., 1], idx[..., 2]]
        mismatched += int((got[n] != expected).sum())
        checked += expected.size
        for v in np.unique(expected[expected > 0]):
            per_class[int(v)] = per_class.get(int(v), 0) + int((expected == v).sum())
    return checked, mismatched, per_class


if __name__ == "__main__":
    main()
