//! `cargo xtask bench`: run the criterion benches that compare cops with
//! its peers, then draw each comparison as an SVG bar chart in
//! `benches/plots/` (for the README). `cargo xtask bench --plot-only`
//! redraws from the last run's `target/criterion` estimates.

use std::path::Path;

use plotters::prelude::*;

use crate::tools::{self, cargo, root};

/// (criterion group, chart title); every chart is in nanoseconds.
const CHARTS: &[(&str, &str)] = &[
    ("yield", "yield round trip (1 worker)"),
    ("ping_pong", "ping-pong handoff (1 worker)"),
    ("spawn_run_single", "spawn + run + free one task"),
    ("wake", "wake a blocked task"),
    ("yield_storm", "yield storm, 64 tasks: time per yield"),
    (
        "yield_storm_inline",
        "yield storm, futures inside cops' allocations, 2 workers",
    ),
    (
        "pipeline",
        "256 connections x (recv -> 15x15 matmul -> send): time per message",
    ),
    (
        "ping_pong_workers",
        "ping-pong between two tasks, 1 and 2 workers: time per round trip",
    ),
];

pub fn bench(args: &[String]) -> Result<(), String> {
    if !args.iter().any(|a| a == "--plot-only") {
        tools::run(cargo().args([
            "bench",
            "-p",
            "cops",
            "--bench",
            "peers",
            "--bench",
            "scaling",
            "--",
            "--warm-up-time",
            "1",
            "--measurement-time",
            "2",
        ]))?;
    }
    let out = root().join("benches/plots");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    for &(group, title) in CHARTS {
        let rows = medians(&root().join("target/criterion").join(group))?;
        if rows.is_empty() {
            return Err(format!(
                "no criterion results for `{group}`: run `cargo xtask bench`"
            ));
        }
        let file = out.join(format!("{group}.svg"));
        draw(&file, title, &rows)?;
        println!("xtask bench: {}", file.display());
        for (name, ns) in &rows {
            println!("  {name:<22} {:>10.1} ns", *ns);
        }
    }
    Ok(())
}

/// `(benchmark, median ns)` of every benchmark of one criterion group.
fn medians(group: &Path) -> Result<Vec<(String, f64)>, String> {
    let mut rows = Vec::new();
    let Ok(entries) = std::fs::read_dir(group) else {
        return Ok(rows);
    };
    for entry in entries.flatten() {
        let file = entry.path().join("new/estimates.json");
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue; // criterion's `report` folder
        };
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        let ns = json["median"]["point_estimate"]
            .as_f64()
            .ok_or_else(|| format!("{}: no median", file.display()))?;
        rows.push((entry.file_name().to_string_lossy().into_owned(), ns));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(rows)
}

fn draw(file: &Path, title: &str, rows: &[(String, f64)]) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", file.display());
    let height = 80 + 34 * rows.len() as u32;
    let root = SVGBackend::new(file, (760, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let max = rows.iter().map(|r| r.1).fold(0.0, f64::max) * 1.15;
    let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(150)
        .build_cartesian_2d(0.0..max, (0..rows.len()).into_segmented())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("median, ns (lower is better)")
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => names.get(*i).copied().unwrap_or("").to_owned(),
            _ => String::new(),
        })
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(rows.iter().enumerate().map(|(i, (name, ns))| {
            let color = if name.starts_with("cops") {
                RED.mix(0.8)
            } else {
                BLUE.mix(0.5)
            };
            let mut bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(i)),
                    (*ns, SegmentValue::Exact(i + 1)),
                ],
                color.filled(),
            );
            bar.set_margin(4, 4, 0, 0);
            bar
        }))
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
