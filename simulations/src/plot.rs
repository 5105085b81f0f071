//! SVG plots of a run's measured events (plotters' SVG backend: text is
//! written as SVG text, so no system fonts are needed).

use std::path::Path;

use plotters::prelude::*;

use crate::scenario::Measured;

const COLOURS: [RGBColor; 6] = [
    RGBColor(0x1b, 0x9e, 0x77),
    RGBColor(0xd9, 0x5f, 0x02),
    RGBColor(0x75, 0x70, 0xb3),
    RGBColor(0xe7, 0x29, 0x8a),
    RGBColor(0x66, 0xa6, 0x1e),
    RGBColor(0xa6, 0x76, 0x1d),
];

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn pacing(mrai_s: u64) -> String {
    if mrai_s == 0 {
        "Trunkline (5 ms window)".into()
    } else {
        format!("BGP, MRAI {mrai_s} s")
    }
}

fn sorted<T: Copy + PartialEq + PartialOrd>(it: impl Iterator<Item = T>) -> Vec<T> {
    let mut v: Vec<T> = Vec::new();
    for x in it {
        if !v.contains(&x) {
            v.push(x);
        }
    }
    v.sort_by(|a, b| a.partial_cmp(b).expect("ordered"));
    v
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// One line per MRAI: the median over seeds of `y` for `event`, against
/// the number of ITADs, on a log scale.
pub fn by_size(
    rows: &[Measured],
    event: &str,
    what: &str,
    y: impl Fn(&Measured) -> f64,
    file: &Path,
) -> Result<()> {
    let rows: Vec<&Measured> = rows.iter().filter(|r| r.event == event).collect();
    let sizes = sorted(rows.iter().map(|r| r.size));
    let mrais = sorted(rows.iter().map(|r| r.mrai_s));
    let ys: Vec<f64> = rows.iter().map(|r| y(r).max(1e-3)).collect();
    let (lo, hi) = (
        ys.iter().copied().fold(f64::MAX, f64::min) / 2.0,
        ys.iter().copied().fold(0.0, f64::max) * 2.0,
    );
    let root = SVGBackend::new(file, (720, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let x_max = *sizes.last().unwrap_or(&1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{event}: {what}"), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..x_max * 1.05, (lo..hi).log_scale())?;
    chart.configure_mesh().x_desc("ITADs").y_desc(what).draw()?;
    for (i, m) in mrais.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<(f64, f64)> = sizes
            .iter()
            .map(|&n| {
                let v: Vec<f64> = rows
                    .iter()
                    .filter(|r| r.size == n && r.mrai_s == *m)
                    .map(|r| y(r).max(1e-3))
                    .collect();
                (n as f64, median(v))
            })
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
            .label(pacing(*m))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}

/// The empirical distribution of convergence over seeds: one step line
/// per event and pacing, on a log time axis.
pub fn ecdf(rows: &[Measured], size: usize, file: &Path) -> Result<()> {
    let rows: Vec<&Measured> = rows.iter().filter(|r| r.size == size).collect();
    let events = {
        let mut v: Vec<&str> = Vec::new();
        for r in &rows {
            if !v.contains(&r.event) {
                v.push(r.event);
            }
        }
        v
    };
    let mrais = sorted(rows.iter().map(|r| r.mrai_s));
    let secs = |r: &Measured| (r.convergence_ms as f64 / 1000.0).max(1e-3);
    let hi = rows.iter().map(|r| secs(r)).fold(0.0, f64::max) * 2.0;
    let lo = rows.iter().map(|r| secs(r)).fold(f64::MAX, f64::min) / 2.0;
    let root = SVGBackend::new(file, (840, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("convergence over seeds, {size} ITADs"),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d((lo..hi).log_scale(), 0f64..1.05)?;
    chart
        .configure_mesh()
        .x_desc("seconds until every table is quiet")
        .y_desc("fraction of runs")
        .draw()?;
    let mut i = 0;
    for m in &mrais {
        for e in &events {
            let mut v: Vec<f64> = rows
                .iter()
                .filter(|r| r.mrai_s == *m && r.event == *e)
                .map(|r| secs(r))
                .collect();
            if v.is_empty() {
                continue;
            }
            v.sort_by(|a, b| a.total_cmp(b));
            let n = v.len() as f64;
            let mut points = vec![(v[0], 0.0)];
            for (k, x) in v.iter().enumerate() {
                points.push((*x, k as f64 / n));
                points.push((*x, (k + 1) as f64 / n));
            }
            let colour = COLOURS[i % COLOURS.len()];
            let style = if *m == 0 {
                colour.stroke_width(2)
            } else {
                colour.stroke_width(1)
            };
            chart
                .draw_series(LineSeries::new(points, style))?
                .label(format!("{e}, {}", pacing(*m)))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
            i += 1;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    root.present()?;
    Ok(())
}

/// A box per event over seeds (the hierarchy's per-tier events), one
/// panel per pacing.
pub fn boxes(rows: &[Measured], size: usize, file: &Path) -> Result<()> {
    let rows: Vec<&Measured> = rows.iter().filter(|r| r.size == size).collect();
    let mrais = sorted(rows.iter().map(|r| r.mrai_s));
    let mut events: Vec<&str> = Vec::new();
    for r in &rows {
        if !events.contains(&r.event) {
            events.push(r.event);
        }
    }
    let root = SVGBackend::new(file, (420 * mrais.len().max(1) as u32, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, mrais.len().max(1)));
    for (panel, m) in panels.iter().zip(&mrais) {
        let secs: Vec<f64> = rows
            .iter()
            .filter(|r| r.mrai_s == *m)
            .map(|r| r.convergence_ms as f64 / 1000.0)
            .collect();
        // Whole decades, so a log axis always has labelled ticks.
        let hi = secs.iter().copied().fold(0.0, f64::max).max(1e-3);
        let lo = secs.iter().copied().fold(f64::MAX, f64::min).max(1e-3);
        let (lo, hi) = (
            10f64.powf(lo.log10().floor()),
            10f64.powf((hi * 1.01).log10().ceil()),
        );
        // plotters labels one decade by its tens and three or more by their
        // powers of ten, but two only in the upper one: make it three.
        let lo = if (hi / lo).log10().round() as i32 == 2 {
            lo / 10.0
        } else {
            lo
        };
        let mut chart = ChartBuilder::on(panel)
            .caption(pacing(*m), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(110)
            .y_label_area_size(56)
            .build_cartesian_2d(
                (0..events.len() as i32).into_segmented(),
                (lo as f32..hi as f32).log_scale(),
            )?;
        chart
            .configure_mesh()
            .y_desc("seconds (log)")
            // One label per event (the default would skip every other).
            .x_labels(events.len() + 1)
            .x_label_style(
                ("sans-serif", 12)
                    .into_font()
                    .transform(FontTransform::Rotate90),
            )
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) => {
                    events.get(*i as usize).copied().unwrap_or("").to_owned()
                }
                _ => String::new(),
            })
            .draw()?;
        for (i, e) in events.iter().enumerate() {
            let v: Vec<f64> = rows
                .iter()
                .filter(|r| r.mrai_s == *m && r.event == *e)
                .map(|r| r.convergence_ms as f64 / 1000.0)
                .collect();
            if v.is_empty() {
                continue;
            }
            let q = Quartiles::new(&v);
            chart.draw_series(std::iter::once(
                Boxplot::new_vertical(SegmentValue::CenterOf(i as i32), &q)
                    .style(COLOURS[i % COLOURS.len()])
                    .width(18),
            ))?;
        }
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plots_are_svg_documents() {
        let mut rows = Vec::new();
        for size in [4, 6] {
            for mrai in [0, 5] {
                rows.extend(
                    crate::scenario::clique::run(1, size, crate::scenario::Pace::mrai(mrai))
                        .unwrap(),
                );
            }
        }
        let dir = std::env::temp_dir().join(format!("trunkline-sim-plots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secs = |r: &Measured| r.convergence_ms as f64 / 1000.0;
        by_size(&rows, "withdraw", "seconds", secs, &dir.join("a.svg")).unwrap();
        ecdf(&rows, 6, &dir.join("b.svg")).unwrap();
        boxes(&rows, 6, &dir.join("c.svg")).unwrap();
        for f in ["a.svg", "b.svg", "c.svg"] {
            let text = std::fs::read_to_string(dir.join(f)).unwrap();
            assert!(text.starts_with("<svg") && text.contains("</svg>"), "{f}");
        }
        assert!(
            std::fs::read_to_string(dir.join("a.svg"))
                .unwrap()
                .contains("BGP, MRAI 5 s")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
