//! `utx-edge info`: describe a scan or a model as JSON.

use std::path::Path;

use anyhow::Result;
use utx_edge::model::ModelSource;

use crate::model_args::PrecisionArg;

pub fn run(file: &str, precision: PrecisionArg, series: Option<&str>) -> Result<()> {
    #[cfg(feature = "dicom")]
    if utx_edge::dicom::is_dicom_input(Path::new(file)) {
        let info = utx_edge::info::dicom_info(Path::new(file), series)?;
        println!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(());
    }
    let _ = series;
    let json = if file == "embedded" {
        serde_json::to_string_pretty(&utx_edge::info::model_info(ModelSource::Embedded(
            precision.into(),
        ))?)?
    } else if file.to_lowercase().ends_with(".onnx") {
        serde_json::to_string_pretty(&utx_edge::info::model_info(ModelSource::File(Path::new(
            file,
        )))?)?
    } else {
        serde_json::to_string_pretty(&utx_edge::info::scan_info(Path::new(file))?)?
    };
    println!("{json}");
    Ok(())
}
