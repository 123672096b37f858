//! The evaluation report as an aligned text table (what `eval` prints).

use super::EvalReport;

impl EvalReport {
    /// The report as an aligned text table, one line per class and the means.
    pub fn table(&self) -> String {
        let num = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |v| format!("{v:.p$}"));
        let w = self
            .classes
            .iter()
            .map(|c| c.name.chars().count())
            .chain([18])
            .max()
            .unwrap_or(18);
        let tol = format!("NSD@{}mm", self.tolerance_mm);
        let mut s = format!(
            "pred {}\nref  {} (labels: {})\ngrid {}×{}×{}, spacing {:.3}×{:.3}×{:.3} mm; classes from the {}\n\n",
            self.pred,
            self.reference,
            self.labels,
            self.dims[0],
            self.dims[1],
            self.dims[2],
            self.spacing_mm[0],
            self.spacing_mm[1],
            self.spacing_mm[2],
            self.class_names_from
        );
        s += &format!(
            "{:<w$} {:>9} {:>9} {:>7} {:>9} {:>9}\n",
            "class", "pred mL", "ref mL", "Dice", "HD95 mm", tol
        );
        for c in &self.classes {
            let hd = if c.hd95_infinite {
                "inf".to_string()
            } else {
                num(c.hd95_mm, 2)
            };
            s += &format!(
                "{:<w$} {:>9.1} {:>9.1} {:>7} {:>9} {:>9}{}\n",
                c.name,
                c.pred_ml,
                c.ref_ml,
                num(c.dice, 3),
                hd,
                num(c.nsd, 3),
                if c.status == "present" {
                    String::new()
                } else {
                    format!("  ({})", c.status)
                }
            );
        }
        let m = &self.mean;
        s += &format!(
            "{:<w$} {:>9} {:>9} {:>7} {:>9} {:>9}  (over {} classes; HD95 over the {} present in both)\n",
            "mean",
            "",
            "",
            num(m.dice, 3),
            num(m.hd95_mm, 2),
            num(m.nsd, 3),
            m.classes,
            m.hd95_classes
        );
        s
    }
}
