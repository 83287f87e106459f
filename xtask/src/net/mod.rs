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

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netbench::load::{self, LoadConfig, Pacing};

use crate::report::Report;
use crate::tools;

mod bench;
mod plot;

pub use bench::bench;

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
