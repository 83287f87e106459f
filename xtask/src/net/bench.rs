//! `cargo xtask net-bench`: the experiment matrix (its plan, each point's
//! measurement, progress lines, CSV) and the kernel memory measurement.

use std::fmt::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use netbench::load::{self, LoadConfig, LoadReport, Pacing};

use super::plot::{plot_models, plot_priority};
use super::{Guest, MODELS};
use crate::tools::{self, root};

/// One measured point of the experiment matrix.
pub(super) struct Point {
    pub(super) model: &'static str,
    pub(super) pacing: &'static str,
    pub(super) connections: usize,
    levels: u8,
    pub(super) cpus: usize,
    pub(super) report: Result<LoadReport, String>,
}

/// `cargo xtask net-bench [--quick]`.
pub fn bench(args: &[String]) -> Result<(), String> {
    let quick = match args {
        [] => false,
        [q] if q == "--quick" => true,
        _ => return Err("usage: cargo xtask net-bench [--quick]".into()),
    };
    tools::ensure_qemu()?;
    let kernel = crate::rcore::build("target/rcore-n", None)?;
    let out = root().join("target/net-bench");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let plan = Plan::new(quick);
    let started = Instant::now();

    let mut points = Vec::new();
    let total = plan.model_points() + plan.priority_points();
    let mut done = 0;
    for &pacing in plan.pacings {
        for &(model, args) in &MODELS {
            for connections in plan.connections_for(pacing) {
                done += 1;
                let p = measure(
                    &kernel,
                    &plan,
                    model,
                    args,
                    pacing,
                    connections,
                    1,
                    plan.model_cpus,
                );
                progress(done, total, &p, started);
                points.push(p);
            }
        }
    }
    let mut priority = Vec::new();
    for &pacing in plan.priority_pacings {
        // The reference for priority 0's latency: 8 connections, one per
        // level, on one executor thread.
        done += 1;
        let p = measure(&kernel, &plan, "KCUC", MODELS[0].1, pacing, 8, 8, 1);
        progress(done, total, &p, started);
        priority.push(p);
        for cpus in 1..=plan.max_cpus {
            done += 1;
            let p = measure(
                &kernel,
                &plan,
                "KCUC",
                MODELS[0].1,
                pacing,
                plan.priority_connections,
                8,
                cpus,
            );
            progress(done, total, &p, started);
            priority.push(p);
        }
    }
    let mut memory = Vec::new();
    for &(model, args) in &MODELS {
        // The capacity run only for the coroutine servers: the thread
        // servers stop at 20 connections (3 threads each, 64 per process).
        let capacity = !args.contains("net.ut=1");
        for (run, n, exact) in [
            ("per-connection", plan.idle_connections, true),
            ("capacity", plan.capacity_connections, false),
        ] {
            if run == "capacity" && !capacity {
                continue;
            }
            let m = measure_memory(&kernel, args, n, exact);
            match &m {
                Ok(m) => println!(
                    "xtask net-bench: memory {model} {run}: {} connections held, {} waiting: {} B heap + {} frames as sockets, then {} B heap + {} frames ({} B charged to calls) waiting",
                    m.connections,
                    m.waiting,
                    m.socket_heap,
                    m.socket_frames,
                    m.wait_heap,
                    m.wait_frames,
                    m.call_bytes
                ),
                Err(e) => println!("xtask net-bench: memory {model} {run}: {e}"),
            }
            memory.push((model, run, m));
        }
    }

    write_csv(&out.join("models.csv"), &points)?;
    write_csv(&out.join("priority.csv"), &priority)?;
    write_memory_csv(&out.join("memory.csv"), &memory)?;
    let plots = root().join("benches/plots");
    std::fs::create_dir_all(&plots).map_err(|e| format!("{}: {e}", plots.display()))?;
    for dir in [&out, &plots] {
        if quick && dir == &plots {
            continue; // the README's plots come from full runs only
        }
        plot_models(&dir.join("net-models.svg"), &points, &plan)?;
        plot_priority(&dir.join("net-priority.svg"), &priority, &plan)?;
    }
    println!(
        "xtask net-bench: done in {:.0} s; CSV and SVG in {}{}",
        started.elapsed().as_secs_f64(),
        out.display(),
        if quick {
            ""
        } else {
            " (plots also in benches/plots)"
        }
    );
    let failed = points
        .iter()
        .chain(&priority)
        .filter(|p| p.report.is_err())
        .count();
    if failed > 0 {
        return Err(format!("{failed} points could not be measured (see above)"));
    }
    Ok(())
}

/// The most connections of the `busy` pacing: every model holds them
/// (user threads: 3 per connection, 64 per process).
const BUSY_MAX_CONNECTIONS: usize = 16;

/// What a run measures.
pub(super) struct Plan {
    pub(super) quick: bool,
    connections: &'static [usize],
    /// `closed`: the papers' closed loop (100 ms think time); `open`: the
    /// same rate, open loop; `busy`: closed loop without think time (the
    /// server's peak), up to [`BUSY_MAX_CONNECTIONS`].
    pub(super) pacings: &'static [&'static str],
    pub(super) priority_pacings: &'static [&'static str],
    window: Duration,
    /// QEMU harts and executor threads for the model comparison.
    model_cpus: usize,
    pub(super) priority_connections: usize,
    max_cpus: usize,
    idle_connections: usize,
    /// Connections offered to find how many the kernel holds at most.
    capacity_connections: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                quick,
                connections: &[8],
                pacings: &["closed", "busy"],
                priority_pacings: &["closed"],
                window: Duration::from_secs(2),
                model_cpus: 2,
                priority_connections: 16,
                max_cpus: 2,
                idle_connections: 4,
                capacity_connections: 40,
            }
        } else {
            Plan {
                quick,
                connections: &[1, 2, 8, 16, 32, 64, 96],
                pacings: &["closed", "open", "busy"],
                priority_pacings: &["closed", "open"],
                window: Duration::from_secs(5),
                model_cpus: 2,
                priority_connections: 64,
                max_cpus: 4,
                idle_connections: 16,
                capacity_connections: 400,
            }
        }
    }
    fn connections_for(&self, pacing: &str) -> Vec<usize> {
        self.connections
            .iter()
            .copied()
            .filter(|&c| pacing != "busy" || c <= BUSY_MAX_CONNECTIONS)
            .collect()
    }
    fn model_points(&self) -> usize {
        MODELS.len()
            * self
                .pacings
                .iter()
                .map(|p| self.connections_for(p).len())
                .sum::<usize>()
    }
    fn priority_points(&self) -> usize {
        self.priority_pacings.len() * (1 + self.max_cpus)
    }
}

#[allow(clippy::too_many_arguments)]
fn measure(
    kernel: &PathBuf,
    plan: &Plan,
    model: &'static str,
    args: &str,
    pacing: &'static str,
    connections: usize,
    levels: u8,
    cpus: usize,
) -> Point {
    let report = (|| {
        // The priority experiment runs on 4 harts whatever the executor
        // threads, so only the threads change between its points.
        let smp = if levels > 1 { 4 } else { cpus };
        let guest = Guest::boot(kernel, smp, &format!("{args} net.cpus={cpus}"))?;
        // The papers: 100 ms between requests (50 ms in the priority
        // experiment); the open loop offers the same rate per connection.
        let interval = Duration::from_millis(if levels > 1 { 50 } else { 100 });
        let config = LoadConfig {
            levels,
            pacing: match pacing {
                "open" => Pacing::Open {
                    rate: 1.0 / interval.as_secs_f64(),
                },
                "busy" => Pacing::Closed {
                    interval: Duration::ZERO,
                },
                _ => Pacing::Closed { interval },
            },
            window: plan.window,
            reply_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            ..LoadConfig::papers(guest.addr, connections)
        };
        let r = load::run(&config);
        // A server that died explains its errors: show why.
        for line in guest
            .output()
            .lines()
            .filter(|l| l.contains("panicked") || l.contains("failed"))
        {
            println!("  guest: {line}");
        }
        drop(guest);
        r
    })();
    Point {
        model,
        pacing,
        connections,
        levels,
        cpus,
        report,
    }
}

fn progress(done: usize, total: usize, p: &Point, started: Instant) {
    let what = format!(
        "[{done}/{total} {:.0} s] {} {} {} conns, {} levels, {} cpus",
        started.elapsed().as_secs_f64(),
        p.model,
        p.pacing,
        p.connections,
        p.levels,
        p.cpus
    );
    match &p.report {
        Ok(r) => {
            let o = &r.overall;
            println!(
                "xtask net-bench: {what}: {:.1} req/s, mean {:.1} ms, p99 {:.1} ms, max {:.1} ms, {} errors, {} timeouts",
                o.throughput,
                o.latency.mean_us / 1e3,
                o.latency.p99_us / 1e3,
                o.latency.max_us / 1e3,
                o.errors,
                o.timeouts
            );
            if r.per_priority.len() > 1 {
                let per: Vec<String> = r
                    .per_priority
                    .iter()
                    .enumerate()
                    .map(|(p, f)| {
                        format!(
                            "p{p} {:.1}/s {:.0} ms",
                            f.throughput,
                            f.latency.mean_us / 1e3
                        )
                    })
                    .collect();
                println!("  {}", per.join(", "));
            }
            for e in r.error_samples.iter().take(3) {
                println!("  error: {e}");
            }
        }
        Err(e) => println!("xtask net-bench: {what}: FAILED: {e}"),
    }
}

fn write_csv(file: &Path, points: &[Point]) -> Result<(), String> {
    let mut csv = format!(
        "model,pacing,connections,levels,cpus,priority,{}\n",
        load::Figures::CSV_COLUMNS
    );
    for p in points {
        let Ok(r) = &p.report else { continue };
        let rows = std::iter::once(("all".to_string(), &r.overall)).chain(
            r.per_priority
                .iter()
                .enumerate()
                .filter(|_| r.per_priority.len() > 1)
                .map(|(i, f)| (i.to_string(), f)),
        );
        for (priority, f) in rows {
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{priority},{}",
                p.model,
                p.pacing,
                p.connections,
                p.levels,
                p.cpus,
                f.csv()
            );
        }
    }
    std::fs::write(file, csv).map_err(|e| format!("{}: {e}", file.display()))?;
    println!("xtask net-bench: {}", file.display());
    Ok(())
}

// ---------------------------------------------------------------- memory

/// Kernel memory held by N idle connections, from `net_server net.idle=N`.
struct Memory {
    /// Connections the server accepted.
    connections: usize,
    /// Of these, connections whose read the kernel is serving (UT: whose
    /// three threads are all waiting in the kernel).
    waiting: usize,
    /// As bare accepted sockets.
    socket_heap: usize,
    socket_frames: usize,
    /// Added by the components waiting (the read served in the kernel).
    wait_heap: usize,
    wait_frames: usize,
    call_bytes: usize,
}

fn field(line: &str, key: &str) -> Result<usize, String> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no {key}= in {line:?}"))
}

/// Open `n` idle connections to `net_server net.idle=n` and read what the
/// kernel holds. `exact`: every one must be held (the per-connection
/// figures); otherwise the run finds how many the kernel holds at most.
fn measure_memory(kernel: &PathBuf, args: &str, n: usize, exact: bool) -> Result<Memory, String> {
    let guest = Guest::boot(kernel, 1, &format!("{args} net.idle={n}"))?;
    let mut conns = Vec::new();
    for i in 0..n {
        match TcpStream::connect_timeout(&guest.addr, Duration::from_secs(10)) {
            Ok(c) => conns.push(c),
            Err(e) if exact => return Err(format!("connection {i}: {e}")),
            Err(_) => break,
        }
    }
    let sockets = guest.wait_for("NETMEM sockets", Duration::from_secs(120))?;
    let waiting = guest.wait_for("NETMEM waiting", Duration::from_secs(120))?;
    let per_conn = if args.contains("net.ut=1") { 3 } else { 1 };
    let m = Memory {
        connections: field(&sockets, "conns")?,
        waiting: (field(&waiting, "calls")? / per_conn).min(field(&waiting, "conns")?),
        socket_heap: field(&sockets, "heap")?,
        socket_frames: field(&sockets, "frames")?,
        wait_heap: field(&waiting, "heap")?,
        wait_frames: field(&waiting, "frames")?,
        call_bytes: field(&waiting, "call_bytes")?,
    };
    if exact && (m.connections != n || m.waiting != n) {
        return Err(format!(
            "the server held fewer connections: {sockets} / {waiting}"
        ));
    }
    if !exact {
        for line in guest
            .output()
            .lines()
            .filter(|l| l.starts_with("net_server:"))
        {
            println!("  {line}");
        }
    }
    Ok(m)
}

fn write_memory_csv(
    file: &Path,
    rows: &[(&str, &str, Result<Memory, String>)],
) -> Result<(), String> {
    let mut csv = String::from(
        "model,run,connections,waiting,socket_heap_bytes,socket_frames,wait_heap_bytes,wait_frames,call_bytes,socket_heap_per_conn,wait_heap_per_conn,wait_frame_bytes_per_conn\n",
    );
    for (model, run, m) in rows {
        let Ok(m) = m else { continue };
        let n = m.connections.max(1) as f64;
        let w = m.waiting.max(1) as f64;
        let _ = writeln!(
            csv,
            "{model},{run},{},{},{},{},{},{},{},{:.0},{:.0},{:.0}",
            m.connections,
            m.waiting,
            m.socket_heap,
            m.socket_frames,
            m.wait_heap,
            m.wait_frames,
            m.call_bytes,
            m.socket_heap as f64 / n,
            m.wait_heap as f64 / w,
            (m.wait_frames * 4096) as f64 / w
        );
    }
    std::fs::write(file, csv).map_err(|e| format!("{}: {e}", file.display()))?;
    println!("xtask net-bench: {}", file.display());
    Ok(())
}
