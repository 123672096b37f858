#!/usr/bin/env python3
"""Builds a CT DICOM series from a NIfTI scan, for the DICOM tests (tests/dicom.rs).

    python3 tests/make_dicom_series.py CT.nii.gz OUTDIR [--slices N]

Writes OUTDIR/series/ (one file per slice, random file names in nested folders,
InstanceNumber deliberately out of order, one stray file of another series, one
non-DICOM file), OUTDIR/series.zip (the same folder zipped) and OUTDIR/truth.json
(series UIDs and each file's SOP Instance UID, position and transfer syntax).

Slices cycle through the transfer syntaxes a console sends: explicit and implicit
VR little endian, RLE lossless, JPEG 2000 lossless (pylibjpeg-openjpeg) and JPEG
lossless process 14 selection value 1, which no pip package encodes: a small
encoder is below. Every compressed slice is decoded again here and compared with
the original, so an encoder bug cannot pass as a reader bug.

The image orientation is the console's usual one (rows toward patient left,
columns toward posterior, LPS), so a NIfTI stored RAS is flipped in both axes:
pixel (r, c) of slice k is voxel (nx-1-c, ny-1-r, k).
"""

import argparse
import json
import os
import random
import zipfile

import nibabel as nib
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    RLELossless,
    generate_uid,
)

SYNTAXES = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless, JPEG2000Lossless, JPEGLosslessSV1]
OFFSET = 2048  # compressed slices are stored unsigned: stored = HU + 2048


def jpeg_lossless_sv1(img):
    """Encodes a 2D uint16 array as JPEG lossless, process 14, predictor 1 (SV1), 16 bits."""
    rows, cols = img.shape
    x = img.astype(np.int64)
    pred = np.empty_like(x)
    pred[0, 0] = 1 << 15
    pred[0, 1:] = x[0, :-1]
    pred[1:, 0] = x[:-1, 0]
    pred[1:, 1:] = x[1:, :-1]
    diff = (x - pred) % 65536
    diff[diff >= 32768] -= 65536
    # One Huffman table: the 17 categories, 5-bit codes each (code = category).
    out = bytearray()
    acc, nbits = 0, 0
    for d in diff.ravel().tolist():
        if d == 0:
            s, extra, n = 0, 0, 0
        else:
            s = abs(d).bit_length()
            if s == 16:
                extra, n = 0, 0
            else:
                extra, n = (d if d > 0 else d + (1 << s) - 1), s
        acc = (acc << 5) | s
        nbits += 5
        if n:
            acc = (acc << n) | extra
            nbits += n
        while nbits >= 8:
            nbits -= 8
            byte = (acc >> nbits) & 0xFF
            out.append(byte)
            if byte == 0xFF:
                out.append(0)
        acc &= (1 << nbits) - 1
    if nbits:
        byte = ((acc << (8 - nbits)) | ((1 << (8 - nbits)) - 1)) & 0xFF
        out.append(byte)
        if byte == 0xFF:
            out.append(0)
    sof = bytes([0xFF, 0xC3, 0, 11, 16]) + rows.to_bytes(2, "big") + cols.to_bytes(2, "big") + bytes([1, 1, 0x11, 0])
    counts = [0] * 16
    counts[4] = 17
    dht = bytes([0xFF, 0xC4]) + (3 + 16 + 17).to_bytes(2, "big") + bytes([0x00]) + bytes(counts) + bytes(range(17))
    sos = bytes([0xFF, 0xDA, 0, 8, 1, 1, 0x00, 1, 0, 0])
    return b"\xff\xd8" + sof + dht + sos + bytes(out) + b"\xff\xd9"


def base_dataset(study, series, frame, desc, number):
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.FrameOfReferenceUID = frame
    ds.PatientName = "Secret^Patient"
    ds.PatientID = "PHI-4711"
    ds.PatientBirthDate = "19500101"
    ds.PatientSex = "O"
    ds.StudyDate = "20240101"
    ds.StudyTime = "120000"
    ds.StudyID = "1"
    ds.AccessionNumber = "ACC-4711"
    ds.ReferringPhysicianName = ""
    ds.Modality = "CT"
    ds.Manufacturer = "utx-edge tests"
    ds.SeriesDescription = desc
    ds.SeriesNumber = number
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.RescaleSlope = 1
    ds.RescaleType = "HU"
    return ds


def save(ds, path, syntax):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = syntax
    ds.file_meta = meta
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("nifti")
    ap.add_argument("out")
    ap.add_argument("--slices", type=int, default=0, help="only the first N slices (0: all)")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = random.Random(a.seed)

    img = nib.load(a.nifti)
    data = np.asarray(img.dataobj).astype(np.int32)
    aff = img.affine
    nx, ny, nz = data.shape
    if a.slices:
        nz = min(nz, a.slices)
    sx = float(np.linalg.norm(aff[:3, 0]))
    sy = float(np.linalg.norm(aff[:3, 1]))
    sz = float(np.linalg.norm(aff[:3, 2]))
    truth = write_series(os.path.join(a.out, "series"), data, aff, nz, rng, SYNTAXES, False)
    root = os.path.join(a.out, "series")
    study, frame = truth["study_uid"], truth["frame_of_reference_uid"]
    # The same scan with rows running anterior (columns direction +A, so the
    # normal points to the feet): another orientation a console may send.
    truth["anterior_rows"] = write_series(
        os.path.join(a.out, "series_anterior_rows"), data, aff, nz, rng, [ExplicitVRLittleEndian], True
    )

    # A stray localizer of another series, and a file that is not DICOM at all.
    stray_uid = generate_uid()
    ds = base_dataset(study, stray_uid, frame, "scout", 1)
    ds.InstanceNumber = 1
    ds.ImagePositionPatient = [0, 0, 0]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
    ds.PixelSpacing = [1, 1]
    ds.Rows, ds.Columns = 16, 16
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = 0
    ds.PixelData = np.zeros((16, 16), np.int16).tobytes()
    save(ds, os.path.join(root, "scout", "IM0001"), ExplicitVRLittleEndian)
    with open(os.path.join(root, "README.txt"), "w") as f:
        f.write("exported by a console\n")
    truth["stray_series_uid"] = stray_uid

    with zipfile.ZipFile(os.path.join(a.out, "series.zip"), "w", zipfile.ZIP_DEFLATED) as z:
        for dirpath, _, files in os.walk(root):
            for name in sorted(files):
                full = os.path.join(dirpath, name)
                z.write(full, os.path.relpath(full, root))
    with open(os.path.join(a.out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1)
    make_bad(os.path.join(a.out, "bad"), data, aff, truth["iop"], sx, sy, sz)


def make_bad(root, data, aff, iop, sx, sy, sz):
    """Small broken series, one folder per problem (explicit VR, 4 slices)."""
    nx, ny, _ = data.shape

    def series(case, n=4, edit=None):
        study, uid, frame = generate_uid(), generate_uid(), generate_uid()
        paths = []
        for k in range(n):
            plane = data[::-1, ::-1, k].T
            ras = aff @ np.array([nx - 1, ny - 1, k, 1.0])
            ds = base_dataset(study, uid, frame, case, 3)
            ds.InstanceNumber = k + 1
            ds.ImagePositionPatient = [f"{v:.6f}" for v in (-ras[0], -ras[1], ras[2])]
            ds.ImageOrientationPatient = [f"{v:.6f}" for v in iop]
            ds.PixelSpacing = [f"{sy:g}", f"{sx:g}"]
            ds.SliceThickness = f"{sz:g}"
            ds.Rows, ds.Columns = plane.shape
            ds.PixelRepresentation = 1
            ds.RescaleIntercept = 0
            ds.PixelData = plane.astype(np.int16).tobytes()
            syntax = ExplicitVRLittleEndian
            if edit:
                syntax = edit(k, ds) or syntax
            path = os.path.join(root, case, f"slice{k:02d}.dcm")
            save(ds, path, syntax)
            paths.append(path)
        return paths

    os.makedirs(os.path.join(root, "no_dicom"), exist_ok=True)
    with open(os.path.join(root, "no_dicom", "notes.txt"), "w") as f:
        f.write("not an image\n")

    paths = series("truncated")
    with open(paths[2], "rb") as f:
        head = f.read(400)
    with open(paths[2], "wb") as f:
        f.write(head)

    paths = series("truncated_pixels")
    with open(paths[1], "rb") as f:
        whole = f.read()
    with open(paths[1], "wb") as f:
        f.write(whole[:-5000])

    def mixed(k, ds):
        if k == 1:
            ds.Rows, ds.Columns = 16, 16
            ds.PixelData = np.zeros((16, 16), np.int16).tobytes()

    series("mixed_sizes", edit=mixed)

    def no_ipp(k, ds):
        if k == 3:
            del ds.ImagePositionPatient

    series("missing_ipp", edit=no_ipp)

    def jpeg_ls(k, ds):
        if k == 0:
            ds.PixelData = encapsulate([b"\xff\xd8\xff\xf7" + bytes(64) + b"\xff\xd9"])
            ds["PixelData"].VR = "OB"
            return "1.2.840.10008.1.2.4.80"

    series("unsupported_ts", edit=jpeg_ls)

    def tilt(k, ds):
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [f"{x:.6f}", f"{y + 0.5 * k:.6f}", f"{z:.6f}"]

    series("gantry_tilt", edit=tilt)

    def duplicate(k, ds):
        if k == 2:
            x, y, z = (float(v) for v in ds.ImagePositionPatient)
            ds.ImagePositionPatient = [f"{x:.6f}", f"{y:.6f}", f"{z - sz:.6f}"]

    series("duplicate", edit=duplicate)

    def gap(k, ds):
        if k == 3:
            x, y, z = (float(v) for v in ds.ImagePositionPatient)
            ds.ImagePositionPatient = [f"{x:.6f}", f"{y:.6f}", f"{z + sz:.6f}"]

    series("gap", edit=gap)

    def oblique(k, ds):
        ds.ImageOrientationPatient = ["1", "0", "0", "0.5", "1", "0"]

    series("non_orthogonal", edit=oblique)


def write_series(root, data, aff, nz, rng, syntaxes, anterior_rows):
    """Writes slices 0..nz-1 of `data` as one series under `root`; returns its truth.

    Rows run posterior (the console's usual IOP 1,0,0,0,1,0 for a RAS NIfTI), or
    anterior when `anterior_rows`; columns always run to patient left.
    """
    nx, ny, _ = data.shape
    sx, sy, sz = (float(np.linalg.norm(aff[:3, c])) for c in range(3))
    lps = np.diag([-1.0, -1.0, 1.0])
    row_dir = -(lps @ aff[:3, 0]) / sx  # along a row: decreasing i
    col_dir = (lps @ aff[:3, 1]) / sy * (1 if anterior_rows else -1)
    iop = [float(v) + 0.0 for v in np.concatenate([row_dir, col_dir])]  # no "-0"
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    names = [f"{rng.getrandbits(40):010x}" for _ in range(nz)]
    instance = list(range(1, nz + 1))
    rng.shuffle(instance)
    truth = {"series_uid": series, "study_uid": study, "frame_of_reference_uid": frame, "iop": iop, "slices": []}
    for k in range(nz):
        # Pixel (r, c) = voxel (nx-1-c, ny-1-r, k), or (nx-1-c, r, k) with anterior rows.
        plane = (data[::-1, :, k] if anterior_rows else data[::-1, ::-1, k]).T
        ras = aff @ np.array([nx - 1, 0 if anterior_rows else ny - 1, k, 1.0])
        ipp = [float(-ras[0]), float(-ras[1]), float(ras[2])]
        syntax = syntaxes[k % len(syntaxes)]
        ds = base_dataset(study, series, frame, "abdomen 3mm", 2)
        ds.InstanceNumber = instance[k]
        ds.ImagePositionPatient = [f"{v:.6f}" for v in ipp]
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in iop]
        ds.PixelSpacing = [f"{sy:g}", f"{sx:g}"]  # row spacing, column spacing
        ds.SliceThickness = f"{sz:g}"
        ds.Rows, ds.Columns = plane.shape
        if syntax in (ExplicitVRLittleEndian,):
            ds.PixelRepresentation = 1
            ds.RescaleIntercept = 0
            stored = plane.astype(np.int16)
            ds.PixelData = stored.tobytes()
        else:
            ds.PixelRepresentation = 0
            ds.RescaleIntercept = -OFFSET
            stored = (plane + OFFSET).astype(np.uint16)
            assert stored.min() >= 0
            if syntax == ImplicitVRLittleEndian:
                ds.PixelData = stored.tobytes()
            elif syntax == JPEGLosslessSV1:
                ds.PixelData = encapsulate([jpeg_lossless_sv1(stored)])
                ds["PixelData"].VR = "OB"
            else:
                ds.PixelData = stored.tobytes()
                ds.compress(syntax, stored)
        path = os.path.join(root, "a" if k % 2 else "b", names[k])
        save(ds, path, syntax)
        back = pydicom.dcmread(path)
        if syntax != JPEGLosslessSV1 or _can_decode_jpeg_lossless():
            got = back.pixel_array.astype(np.int32)
            assert np.array_equal(got, stored.astype(np.int32)), f"{syntax.name} does not round-trip"
        truth["slices"].append(
            {
                "file": os.path.relpath(path, root),
                "sop_instance_uid": str(ds.SOPInstanceUID),
                "ipp": ipp,
                "k": k,
                "transfer_syntax": str(syntax),
            }
        )

    return truth


_DECODE = None


def _can_decode_jpeg_lossless():
    global _DECODE
    if _DECODE is None:
        try:
            import libjpeg  # noqa: F401  (pylibjpeg-libjpeg)

            _DECODE = True
        except ImportError:
            _DECODE = False
    return _DECODE


if __name__ == "__main__":
    main()
