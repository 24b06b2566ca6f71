//! PNG charts of a training run (`curves.png`) and of an evaluation (the confusion matrix),
//! drawn with `plotters` into an RGB buffer and encoded with `image`.
//!
//! Text uses the bundled DejaVu Sans Mono font (`assets/fonts`, Bitstream Vera licence), so
//! no system fonts are needed. Needs the `plot` feature; without it a training run writes no
//! `curves.png`.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

pub use super::metrics::{Curves, Point};
use crate::checkpoint::write_atomic;
use crate::Error;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSansMono.ttf");

pub(crate) fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is valid TrueType; registration only fails on a corrupt file.
        let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

fn plot_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Format { path: path.display().to_string(), msg: format!("cannot draw: {e}") }
}

/// Encodes an RGB8 buffer of `w×h` pixels as PNG at `path`, atomically.
pub fn save_rgb_png(path: &Path, rgb: Vec<u8>, w: u32, h: u32) -> Result<(), Error> {
    let img = image::RgbImage::from_raw(w, h, rgb)
        .ok_or_else(|| plot_error(path, "buffer size does not match the image size"))?;
    let mut bytes = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).map_err(|e| plot_error(path, e))?;
    write_atomic(path, |w| std::io::Write::write_all(w, &bytes))
}

fn range(points: &[&[Point]], pad: f64) -> (f64, f64, f64, f64) {
    let all = points.iter().flat_map(|p| p.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1e-9 {
        x1 = x0 + 1.0;
    }
    if y1 - y0 < 1e-9 {
        y1 = y0 + 1.0;
    }
    let dy = (y1 - y0) * pad;
    (x0, x1, y0 - dy, y1 + dy)
}

/// Draws the loss (left) and accuracy (right) panels to `path` (PNG, 1000×400).
pub fn draw_curves(path: &Path, curves: &Curves) -> Result<(), Error> {
    ensure_font();
    let (w, h) = (1000u32, 400u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
        let panels = root.split_evenly((1, 2));
        let finite =
            |p: &[Point]| p.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect::<Vec<_>>();
        // Loss against the step.
        let (x0, x1, y0, y1) = range(&[&curves.train_loss, &curves.test_loss], 0.05);
        let mut chart = ChartBuilder::on(&panels[0])
            .caption("loss", ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(x0..x1, y0.max(0.0)..y1)
            .map_err(|e| plot_error(path, e))?;
        chart
            .configure_mesh()
            .x_desc("step")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(|e| plot_error(path, e))?;
        chart
            .draw_series(LineSeries::new(finite(&curves.train_loss), &BLUE))
            .map_err(|e| plot_error(path, e))?
            .label("train")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
        chart
            .draw_series(LineSeries::new(finite(&curves.test_loss), RED.stroke_width(2)))
            .map_err(|e| plot_error(path, e))?
            .label("test")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
        chart
            .draw_series(finite(&curves.test_loss).into_iter().map(|p| Circle::new(p, 3, RED.filled())))
            .map_err(|e| plot_error(path, e))?;
        chart
            .configure_series_labels()
            .background_style(WHITE)
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(|e| plot_error(path, e))?;
        // Accuracy against the step.
        let (x0, x1, _, _) = range(&[&curves.train_acc, &curves.test_acc, &curves.train_loss], 0.0);
        let (_, _, a0, a1) = range(&[&curves.train_acc, &curves.test_acc], 0.05);
        let mut chart = ChartBuilder::on(&panels[1])
            .caption("accuracy", ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(x0..x1, a0.max(0.0)..a1.min(1.0).max(a0.max(0.0) + 0.01))
            .map_err(|e| plot_error(path, e))?;
        chart
            .configure_mesh()
            .x_desc("step")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(|e| plot_error(path, e))?;
        for (series, color, name) in [(&curves.train_acc, BLUE, "train"), (&curves.test_acc, RED, "test")] {
            let pts = finite(series);
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(|e| plot_error(path, e))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
                .map_err(|e| plot_error(path, e))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE)
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(|e| plot_error(path, e))?;
        root.present().map_err(|e| plot_error(path, e))?;
    }
    save_rgb_png(path, buf, w, h)
}

/// Draws a confusion matrix (`matrix[true][predicted]` counts) as a heat map with the counts
/// and class names, to `path` (PNG).
pub fn draw_confusion(path: &Path, matrix: &[Vec<usize>], classes: &[String]) -> Result<(), Error> {
    ensure_font();
    let n = matrix.len().max(1);
    let cell = (600 / n as u32).clamp(12, 60);
    let (left, top) = (110u32, 60u32);
    let (w, h) = (left + cell * n as u32 + 20, top + cell * n as u32 + 20);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
        let font = |size: u32| ("sans-serif", size).into_font();
        root.draw_text("confusion matrix (rows: true, columns: predicted)", &font(14).color(&BLACK), (10, 8))
            .map_err(|e| plot_error(path, e))?;
        let max_off = matrix
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.iter().enumerate().filter(move |(j, _)| *j != i).map(|(_, v)| *v))
            .max()
            .unwrap_or(0)
            .max(1);
        let label_size = (cell * 2 / 5).clamp(8, 14);
        for (i, row) in matrix.iter().enumerate() {
            let total: usize = row.iter().sum::<usize>().max(1);
            let name = classes.get(i).map(String::as_str).unwrap_or("?");
            let short: String = name.chars().take(12).collect();
            let y = (top + cell * i as u32) as i32;
            root.draw_text(&short, &font(label_size).color(&BLACK), (5, y + cell as i32 / 2 - label_size as i32 / 2))
                .map_err(|e| plot_error(path, e))?;
            let x = (left + cell * i as u32) as i32;
            let col: String = name.chars().take(3).collect();
            root.draw_text(&col, &font(label_size).color(&BLACK), (x + 2, top as i32 - label_size as i32 - 6))
                .map_err(|e| plot_error(path, e))?;
            for (j, &v) in row.iter().enumerate() {
                // Diagonal: shades of green by the row's fraction; off-diagonal: red by count.
                let color = if i == j {
                    let t = v as f64 / total as f64;
                    RGBColor((255.0 - 200.0 * t) as u8, 255 - (55.0 * t) as u8, (255.0 - 200.0 * t) as u8)
                } else {
                    let t = (v as f64 / max_off as f64).sqrt();
                    RGBColor(255, (255.0 - 200.0 * t) as u8, (255.0 - 200.0 * t) as u8)
                };
                let x = (left + cell * j as u32) as i32;
                root.draw(&Rectangle::new([(x, y), (x + cell as i32, y + cell as i32)], color.filled()))
                    .map_err(|e| plot_error(path, e))?;
                root.draw(&Rectangle::new([(x, y), (x + cell as i32, y + cell as i32)], RGBColor(200, 200, 200)))
                    .map_err(|e| plot_error(path, e))?;
                if cell >= 24 && v > 0 {
                    root.draw_text(
                        &v.to_string(),
                        &font(label_size).color(&BLACK),
                        (x + 3, y + cell as i32 / 2 - label_size as i32 / 2),
                    )
                    .map_err(|e| plot_error(path, e))?;
                }
            }
        }
        root.present().map_err(|e| plot_error(path, e))?;
    }
    save_rgb_png(path, buf, w, h)
}
