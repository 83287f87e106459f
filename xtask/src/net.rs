//! The papers' network evaluation on rcore-n (COPS §5): the matrix server
//! (`net_server`) in QEMU behind a forwarded host port, driven by the
//! `netbench` load generator on the host.
//!
//! - `cargo xtask test net`: each of the four models serves 8 connections ×
//!   4 requests (every reply checked), a malformed request and a client
//!   reset at the same time, then must find the kernel's sockets and heap
//!   back at baseline and end with its PASS line.
//! - `cargo xtask net-bench [--quick]`: the experiment matrix (models ×
//!   connections, closed and open loop; 64 connections over 8 priorities
//!   with 1–4 executor threads; kernel memory per connection), CSV under
//!   `target/net-bench/`, SVG plots there and in `benches/plots/`.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netbench::load::{self, LoadConfig, LoadReport, Pacing};
use plotters::prelude::*;

use crate::report::Report;
use crate::tools::{self, root};

/// The four models of COPS §5.1 and the command line choosing each.
pub const MODELS: [(&str, &str); 4] = [
    ("KCUC", "net.kt=0 net.ut=0"),
    ("KCUT", "net.kt=0 net.ut=1"),
    ("KTUC", "net.kt=1 net.ut=0"),
    ("KTUT", "net.kt=1 net.ut=1"),
];

const LISTENING: &str = "net_server: listening";
const BOOT_LIMIT: Duration = Duration::from_secs(60);

/// A free TCP port on 127.0.0.1 (bound, then released for QEMU to take).
fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// One QEMU running `net_server`, its console collected as it comes.
struct Guest {
    child: Child,
    output: Arc<Mutex<String>>,
    pub addr: SocketAddr,
}

impl Guest {
    fn boot(kernel: &PathBuf, smp: usize, bootargs: &str) -> Result<Guest, String> {
        let port = free_port()?;
        let mut cmd = crate::rcore::qemu_net(
            Path::new("qemu-system-riscv64"),
            None,
            kernel,
            smp,
            &format!("init=net_server {bootargs}"),
            Some(port),
        );
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start QEMU: {e}"))?;
        let output = Arc::new(Mutex::new(String::new()));
        for pipe in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    let mut o = output.lock().unwrap_or_else(|e| e.into_inner());
                    o.push_str(&line);
                    o.push('\n');
                }
            });
        }
        let guest = Guest {
            child,
            output,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        guest.wait_for(LISTENING, BOOT_LIMIT)?;
        Ok(guest)
    }

    fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The first console line containing `needle`, waiting up to `limit`.
    fn wait_for(&self, needle: &str, limit: Duration) -> Result<String, String> {
        let start = Instant::now();
        loop {
            if let Some(line) = self.output().lines().find(|l| l.contains(needle)) {
                return Ok(line.to_string());
            }
            if start.elapsed() > limit {
                return Err(format!(
                    "no `{needle}` line within {limit:?}; console:\n{}",
                    tail(&self.output())
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait for QEMU to exit by itself: Ok(success) or Err after `limit`.
    fn wait_exit(&mut self, limit: Duration) -> Result<bool, String> {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().map_err(|e| e.to_string())? {
                // Let the reader threads take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return Ok(s.success());
            }
            if start.elapsed() > limit {
                return Err(format!(
                    "QEMU still running after {limit:?}; console:\n{}",
                    tail(&self.output())
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last lines of a console, for an error message.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}

// ---------------------------------------------------------------- test

/// `cargo xtask test net`: one test per model.
pub fn test(report: &mut Report) {
    if let Err(e) = tools::ensure_qemu() {
        report.fail("qemu", 1, &e);
        return;
    }
    let kernel = match crate::rcore::build("target/rcore-n", None) {
        Ok(k) => k,
        Err(e) => {
            report.fail("rcore-n build", 1, &e);
            return;
        }
    };
    for (model, args) in MODELS {
        let started = Instant::now();
        let result = test_model(&kernel, args);
        println!(
            "xtask: net {model} took {:.1} s",
            started.elapsed().as_secs_f64()
        );
        report.check(
            &format!("net {model}: 8x4 requests, a malformed request, a reset"),
            result,
        );
    }
}

/// Connections the test opens: the generator's 8, the malformed one, the
/// reset one.
const TEST_CONNECTIONS: usize = 10;

fn test_model(kernel: &PathBuf, args: &str) -> Result<(), String> {
    let mut guest = Guest::boot(kernel, 2, &format!("{args} net.conns={TEST_CONNECTIONS}"))?;
    // The server's rounds (it checks the kernel heap stopped growing after
    // the second): each waits for the server's line ending the round.
    for round in 1..=netbench::TEST_ROUNDS {
        test_round(guest.addr).map_err(|e| format!("round {round}: {e}"))?;
        guest.wait_for(
            &format!("net_server: round {round}:"),
            Duration::from_secs(60),
        )?;
    }
    // The server then closes its listening socket, checks the kernel's
    // counters are back at baseline, and passes.
    let exited = guest.wait_exit(Duration::from_secs(60))?;
    for line in guest
        .output()
        .lines()
        .filter(|l| l.starts_with("net_server:"))
    {
        println!("  {line}");
    }
    match exited {
        true if guest.output().contains("TEST net_server PASS") => Ok(()),
        ok => Err(format!(
            "QEMU exit success={ok}, or no PASS line; console:\n{}",
            tail(&guest.output())
        )),
    }
}

/// 8 connections × 4 requests, with a malformed request and a client
/// reset on two more connections while they are being served.
fn test_round(addr: SocketAddr) -> Result<(), String> {
    let config = LoadConfig {
        levels: 8,
        requests_per_connection: Some(4),
        pacing: Pacing::Closed {
            interval: Duration::from_millis(200),
        },
        window: Duration::from_secs(60),
        reply_timeout: Duration::from_secs(30),
        ..LoadConfig::papers(addr, 8)
    };
    let generator = std::thread::spawn(move || load::run(&config));
    let malformed = malformed_request(addr);
    let reset = client_reset(addr);
    let report = generator
        .join()
        .map_err(|_| "the generator panicked".to_string())??;
    malformed?;
    reset?;
    let o = &report.overall;
    if !(report.clean() && o.sent == 32 && o.completed == 32) {
        return Err(format!(
            "sent {}, correct replies {}, errors {}, timeouts {}: {:?}",
            o.sent, o.completed, o.errors, o.timeouts, report.error_samples
        ));
    }
    Ok(())
}

/// Garbage gets an error frame (bad magic), then the server closes.
fn malformed_request(addr: SocketAddr) -> Result<(), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("malformed: connect: {e}"))?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")
        .map_err(|e| format!("malformed: write: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply)
        .map_err(|e| format!("malformed: read: {e}"))?;
    match netbench::decode(&reply) {
        Ok(Some((netbench::Frame::Error { code, .. }, len)))
            if code == netbench::ProtocolError::BadMagic.code() && len == reply.len() =>
        {
            Ok(())
        }
        other => Err(format!(
            "malformed: expected one bad-magic error frame then the end, got {} bytes: {other:?}",
            reply.len()
        )),
    }
}

/// Send a request and close with its reply unread: the host's TCP then
/// resets the connection instead of closing it.
fn client_reset(addr: SocketAddr) -> Result<(), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("reset: connect: {e}"))?;
    let request = netbench::Request {
        seq: 0,
        priority: 0,
        matrix: netbench::CellSource::new(7)
            .matrix(20)
            .map_err(|e| e.to_string())?,
    };
    let mut bytes = vec![0u8; netbench::MAX_REQUEST_LEN];
    let len = request.encode(&mut bytes).map_err(|e| e.to_string())?;
    s.write_all(&bytes[..len])
        .map_err(|e| format!("reset: write: {e}"))?;
    // Wait for the reply to arrive, and leave it unread.
    let mut peek = [0u8; 1];
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    s.peek(&mut peek)
        .map_err(|e| format!("reset: no reply: {e}"))?;
    drop(s);
    Ok(())
}

// ---------------------------------------------------------------- bench

/// One measured point of the experiment matrix.
struct Point {
    model: &'static str,
    pacing: &'static str,
    connections: usize,
    levels: u8,
    cpus: usize,
    report: Result<LoadReport, String>,
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
struct Plan {
    quick: bool,
    connections: &'static [usize],
    /// `closed`: the papers' closed loop (100 ms think time); `open`: the
    /// same rate, open loop; `busy`: closed loop without think time (the
    /// server's peak), up to [`BUSY_MAX_CONNECTIONS`].
    pacings: &'static [&'static str],
    priority_pacings: &'static [&'static str],
    window: Duration,
    /// QEMU harts and executor threads for the model comparison.
    model_cpus: usize,
    priority_connections: usize,
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

// ---------------------------------------------------------------- plots

const COLORS: [RGBColor; 4] = [RED, BLUE, GREEN, MAGENTA];

type Series = Vec<(String, Vec<(f64, f64)>)>;

/// Throughput and mean latency against connections, one line per model,
/// one row of panels per pacing.
fn plot_models(file: &Path, points: &[Point], plan: &Plan) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", file.display());
    let rows = plan.pacings.len() as u32;
    let area = SVGBackend::new(file, (1100, 380 * rows)).into_drawing_area();
    area.fill(&WHITE).map_err(|e| err(&e))?;
    let panels = area.split_evenly((plan.pacings.len(), 2));
    for (r, &pacing) in plan.pacings.iter().enumerate() {
        for (c, (metric, unit)) in [("throughput", "requests/s"), ("mean latency", "ms")]
            .into_iter()
            .enumerate()
        {
            let series: Series = MODELS
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
                            let y = if c == 0 {
                                o.throughput
                            } else {
                                o.latency.mean_us / 1e3
                            };
                            Some((p.connections as f64, y))
                        })
                        .collect();
                    (model.to_string(), pts)
                })
                .collect();
            lines(
                &panels[r * 2 + c],
                &format!(
                    "{metric}, {} ({})",
                    match pacing {
                        "busy" => "closed loop, no think time",
                        "open" => "open loop, 10 req/s per connection",
                        _ => "closed loop, 100 ms think time",
                    },
                    if plan.quick { "quick" } else { "5 s window" }
                ),
                "connections",
                unit,
                &series,
            )
            .map_err(|e| err(&e))?;
        }
    }
    area.present().map_err(|e| err(&e))?;
    println!("xtask net-bench: {}", file.display());
    Ok(())
}

/// Throughput and mean latency per priority, one line per executor-thread
/// count, one row of panels per pacing.
fn plot_priority(file: &Path, points: &[Point], plan: &Plan) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", file.display());
    let rows = plan.priority_pacings.len() as u32;
    let area = SVGBackend::new(file, (1100, 380 * rows)).into_drawing_area();
    area.fill(&WHITE).map_err(|e| err(&e))?;
    let panels = area.split_evenly((plan.priority_pacings.len(), 2));
    for (r, &pacing) in plan.priority_pacings.iter().enumerate() {
        for (c, (metric, unit)) in [("throughput", "requests/s"), ("mean latency", "ms")]
            .into_iter()
            .enumerate()
        {
            let series: Series = points
                .iter()
                .filter(|p| p.pacing == pacing && p.connections == plan.priority_connections)
                .filter_map(|p| {
                    let r = p.report.as_ref().ok()?;
                    let pts = r
                        .per_priority
                        .iter()
                        .enumerate()
                        .map(|(level, f)| {
                            let y = if c == 0 {
                                f.throughput
                            } else {
                                f.latency.mean_us / 1e3
                            };
                            (level as f64, y)
                        })
                        .collect();
                    Some((format!("{} executor thread(s)", p.cpus), pts))
                })
                .collect();
            lines(
                &panels[r * 2 + c],
                &format!(
                    "KCUC {} connections / 8 levels: {metric}, {pacing} loop",
                    plan.priority_connections
                ),
                "priority (0 most urgent)",
                unit,
                &series,
            )
            .map_err(|e| err(&e))?;
        }
    }
    area.present().map_err(|e| err(&e))?;
    println!("xtask net-bench: {}", file.display());
    Ok(())
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
