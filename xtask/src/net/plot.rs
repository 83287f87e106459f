//! The network benchmark's SVG plots: the models against connections, and
//! the priority experiment per level.

use std::path::Path;

use plotters::prelude::*;

use super::MODELS;
use super::bench::{Plan, Point};

const COLORS: [RGBColor; 4] = [RED, BLUE, GREEN, MAGENTA];

type Series = Vec<(String, Vec<(f64, f64)>)>;

/// The two panels of each row: what a point's y is.
#[derive(Clone, Copy)]
enum Metric {
    Throughput,
    MeanLatency,
}

impl Metric {
    fn name_and_unit(self) -> (&'static str, &'static str) {
        match self {
            Metric::Throughput => ("throughput", "requests/s"),
            Metric::MeanLatency => ("mean latency", "ms"),
        }
    }

    fn of(self, throughput: f64, mean_us: f64) -> f64 {
        match self {
            Metric::Throughput => throughput,
            Metric::MeanLatency => mean_us / 1e3,
        }
    }
}

/// One row of panels per pacing (throughput, mean latency); `panel` gives
/// each panel's title, x axis and lines.
fn panel_grid(
    file: &Path,
    pacings: &[&str],
    panel: impl Fn(&str, Metric) -> (String, &'static str, Series),
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", file.display());
    let area = SVGBackend::new(file, (1100, 380 * pacings.len() as u32)).into_drawing_area();
    area.fill(&WHITE).map_err(|e| err(&e))?;
    let panels = area.split_evenly((pacings.len(), 2));
    for (r, &pacing) in pacings.iter().enumerate() {
        for (c, metric) in [Metric::Throughput, Metric::MeanLatency]
            .into_iter()
            .enumerate()
        {
            let (title, x_desc, series) = panel(pacing, metric);
            lines(
                &panels[r * 2 + c],
                &title,
                x_desc,
                metric.name_and_unit().1,
                &series,
            )
            .map_err(|e| err(&e))?;
        }
    }
    area.present().map_err(|e| err(&e))?;
    println!("xtask net-bench: {}", file.display());
    Ok(())
}

/// Throughput and mean latency against connections, one line per model,
/// one row of panels per pacing.
pub(super) fn plot_models(file: &Path, points: &[Point], plan: &Plan) -> Result<(), String> {
    panel_grid(file, plan.pacings, |pacing, metric| {
        let series = MODELS
            .iter()
            .map(|(model, _)| {
                let pts = points
                    .iter()
                    .filter(|p| p.model == *model && p.pacing == pacing)
                    .filter_map(|p| {
                        let o = &p.report.as_ref().ok()?.overall;
                        if o.errors > 0 || o.timeouts > 0 {
                            // The server refused or dropped connections
                            // (a per-process limit): not comparable.
                            return None;
                        }
                        let y = metric.of(o.throughput, o.latency.mean_us);
                        Some((p.connections as f64, y))
                    })
                    .collect();
                (model.to_string(), pts)
            })
            .collect();
        let title = format!(
            "{}, {} ({})",
            metric.name_and_unit().0,
            match pacing {
                "busy" => "closed loop, no think time",
                "open" => "open loop, 10 req/s per connection",
                _ => "closed loop, 100 ms think time",
            },
            if plan.quick { "quick" } else { "5 s window" }
        );
        (title, "connections", series)
    })
}

/// Throughput and mean latency per priority, one line per executor-thread
/// count, one row of panels per pacing.
pub(super) fn plot_priority(file: &Path, points: &[Point], plan: &Plan) -> Result<(), String> {
    panel_grid(file, plan.priority_pacings, |pacing, metric| {
        let series = points
            .iter()
            .filter(|p| p.pacing == pacing && p.connections == plan.priority_connections)
            .filter_map(|p| {
                let pts = p
                    .report
                    .as_ref()
                    .ok()?
                    .per_priority
                    .iter()
                    .enumerate()
                    .map(|(level, f)| (level as f64, metric.of(f.throughput, f.latency.mean_us)))
                    .collect();
                Some((format!("{} executor thread(s)", p.cpus), pts))
            })
            .collect();
        let title = format!(
            "KCUC {} connections / 8 levels: {}, {pacing} loop",
            plan.priority_connections,
            metric.name_and_unit().0
        );
        (title, "priority (0 most urgent)", series)
    })
}

fn lines<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &Series,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let all = series.iter().flat_map(|(_, p)| p.iter());
    let x_max = all.clone().map(|p| p.0).fold(1.0, f64::max);
    let y_max = all.map(|p| p.1).fold(0.0, f64::max).max(1e-3) * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max * 1.02, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
