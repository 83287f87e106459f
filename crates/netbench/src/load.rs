//! The host load generator: `connections` TCP connections to a matrix
//! server, connection `i` at priority `i % levels`, each checking every
//! reply against the real product.
//!
//! - **Closed loop** (the papers' client): send a request, wait for its
//!   reply, sleep `interval`, again. Latency is send → reply. Connection
//!   `i` starts `i / connections` of an interval late, so the connections
//!   do not send in lockstep.
//! - **Open loop**: each connection sends at a fixed rate whether or not
//!   replies came back (requests pipeline on the connection). Latency is
//!   counted from the *intended* send time, so a server that stalls cannot
//!   hide its queueing delay (coordinated omission).
//!
//! Every connection is opened before the measurement starts (COPS §5.1:
//! "the test starts after all connections are established"), one at a
//! time, each proven by one checked exchange (sequence [`WARMUP_SEQ`]). The window
//! is fixed; a run ends by itself after at most connect + window + reply
//! timeout. Requests sent in the window whose replies do not come within
//! `reply_timeout` count as timeouts; a wrong reply, an error frame or a
//! broken connection counts as an error (and ends that connection: its
//! stream can no longer be trusted).

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::{CellSource, Frame, FrameBuffer, MAX_REPLY_LEN, MAX_REQUEST_LEN, Request};

/// How each connection paces its requests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pacing {
    /// Send, wait for the reply, sleep this long.
    Closed { interval: Duration },
    /// Send this many requests per second, replies or not.
    Open { rate: f64 },
}

/// One run of the generator.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    pub addr: SocketAddr,
    pub connections: usize,
    /// Connection `i` sends priority `i % levels` (1: all at priority 0).
    pub levels: u8,
    /// Matrix side.
    pub n: usize,
    pub pacing: Pacing,
    /// The measurement window.
    pub window: Duration,
    /// Stop each connection after this many requests (the functional
    /// test); the window still bounds the run.
    pub requests_per_connection: Option<u64>,
    /// How long a reply may take before it counts as a timeout.
    pub reply_timeout: Duration,
    /// How long opening every connection may take.
    pub connect_timeout: Duration,
    /// Seed of the request matrices.
    pub seed: u64,
}

impl LoadConfig {
    /// The papers' closed loop: 20×20 matrices, 100 ms interval, 5 s window.
    pub fn papers(addr: SocketAddr, connections: usize) -> Self {
        LoadConfig {
            addr,
            connections,
            levels: 1,
            n: 20,
            pacing: Pacing::Closed {
                interval: Duration::from_millis(100),
            },
            window: Duration::from_secs(5),
            requests_per_connection: None,
            reply_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            seed: 1,
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.connections == 0 {
            return Err("no connections".into());
        }
        if self.levels == 0 || self.levels > crate::PRIORITY_LEVELS {
            return Err(format!("levels {} outside 1..=64", self.levels));
        }
        crate::Matrix::from_fn(self.n, |_, _| 0).map_err(|e| e.to_string())?;
        if let Pacing::Open { rate } = self.pacing {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(format!("open-loop rate {rate} is not a positive number"));
            }
        }
        if self.window.is_zero() {
            return Err("empty window".into());
        }
        Ok(())
    }
}

/// Latency figures of a set of replies, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    pub count: usize,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

impl Latency {
    fn of(samples: &mut [Duration]) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        samples.sort_unstable();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        // Nearest rank: the smallest sample with at least q of them at or below.
        let rank = |q: f64| {
            let i = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            us(samples[i - 1])
        };
        Latency {
            count: samples.len(),
            mean_us: samples.iter().map(|&d| us(d)).sum::<f64>() / samples.len() as f64,
            p50_us: rank(0.50),
            p99_us: rank(0.99),
            max_us: us(*samples.last().expect("not empty")),
        }
    }
}

/// What a set of connections (all, or one priority) did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    pub connections: usize,
    /// Requests sent in the window.
    pub sent: u64,
    /// Correct replies received in the window.
    pub completed: u64,
    /// `completed` per second of window.
    pub throughput: f64,
    /// Latency of every correct reply to a request sent in the window.
    pub latency: Latency,
    pub errors: u64,
    pub timeouts: u64,
}

impl Figures {
    /// The CSV columns of [`Figures::csv`], for a header after the columns
    /// that name the row.
    pub const CSV_COLUMNS: &str =
        "sent,completed,throughput,mean_us,p50_us,p99_us,max_us,errors,timeouts";

    /// These figures as CSV fields (see [`Figures::CSV_COLUMNS`]).
    pub fn csv(&self) -> String {
        format!(
            "{},{},{:.2},{:.0},{:.0},{:.0},{:.0},{},{}",
            self.sent,
            self.completed,
            self.throughput,
            self.latency.mean_us,
            self.latency.p50_us,
            self.latency.p99_us,
            self.latency.max_us,
            self.errors,
            self.timeouts
        )
    }
}

/// A run's result.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadReport {
    pub overall: Figures,
    /// `per_priority[p]`: connections at priority `p`.
    pub per_priority: Vec<Figures>,
    /// The first few errors, for the log.
    pub error_samples: Vec<String>,
}

impl LoadReport {
    /// No error, no timeout, and at least one reply.
    pub fn clean(&self) -> bool {
        self.overall.errors == 0 && self.overall.timeouts == 0 && self.overall.completed > 0
    }
}

/// What one connection measured.
#[derive(Default)]
struct ConnResult {
    sent: u64,
    completed: u64,
    latencies: Vec<Duration>,
    errors: Vec<String>,
    timeouts: u64,
}

impl ConnResult {
    fn error(&mut self, what: String) {
        self.errors.push(what);
    }
}

/// Run the generator: open every connection, measure for the window, end
/// by itself. `Err` only for a configuration that cannot run; a server
/// that misbehaves shows as errors and timeouts in the report.
pub fn run(config: &LoadConfig) -> Result<LoadReport, String> {
    config.check()?;
    let config = Arc::new(config.clone());
    // Open the connections one at a time, each proven end to end by one
    // checked exchange before the next is opened. QEMU's forwarded port
    // listens with a backlog of 1: a burst of connects "succeeds" on the
    // host, but the connections reach the server seconds later, which
    // would land inside the measurement as latency.
    // After the first that cannot be opened, the rest are not tried: a
    // server that holds no more connections would cost a timeout each.
    let mut streams: Vec<Result<TcpStream, String>> = Vec::with_capacity(config.connections);
    for i in 0..config.connections {
        let stream = match streams.iter().position(Result::is_err) {
            Some(first) => Err(format!("not opened: connection {first} could not be")),
            None => establish(&config, i),
        };
        streams.push(stream);
    }
    let start = Instant::now();
    let mut threads = Vec::with_capacity(config.connections);
    for (i, stream) in streams.into_iter().enumerate() {
        let config = config.clone();
        let spawned = thread::Builder::new()
            .name(format!("netbench-{i}"))
            .stack_size(256 << 10)
            .spawn(move || {
                let mut result = ConnResult::default();
                match stream {
                    Ok(stream) => connection(&config, i, stream, start, &mut result),
                    Err(e) => result.error(format!("connection {i}: {e}")),
                }
                result
            });
        threads.push(spawned.map_err(|e| format!("connection {i}: cannot start its thread: {e}")));
    }
    let mut per_conn = Vec::with_capacity(threads.len());
    for (i, t) in threads.into_iter().enumerate() {
        per_conn.push(match t {
            Ok(t) => t.join().unwrap_or_else(|_| ConnResult {
                errors: vec![format!("connection {i}: its thread panicked")],
                ..ConnResult::default()
            }),
            Err(e) => ConnResult {
                errors: vec![e],
                ..ConnResult::default()
            },
        });
    }
    Ok(summarize(&config, per_conn))
}

/// The sequence number of the exchange that proves a connection open
/// (not measured; measured requests count from 0).
pub const WARMUP_SEQ: u64 = u64::MAX;

/// Connect, and get one correct reply within `connect_timeout`.
fn establish(config: &LoadConfig, i: usize) -> Result<TcpStream, String> {
    let deadline = Instant::now() + config.connect_timeout;
    let mut stream = TcpStream::connect_timeout(&config.addr, config.connect_timeout)
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(config.connect_timeout));
    let warmup = request(config, i, WARMUP_SEQ);
    stream
        .write_all(&encode(&warmup))
        .map_err(|e| format!("write the opening request: {e}"))?;
    let mut buf = FrameBuffer::<MAX_REPLY_LEN>::new();
    match receive(&mut stream, &mut buf, &warmup, deadline) {
        Received::Reply(_) => Ok(stream),
        Received::TimedOut => Err(format!(
            "no reply to the opening request within {:?}",
            config.connect_timeout
        )),
        Received::Failed(why) => Err(format!("opening request: {why}")),
    }
}

fn summarize(config: &LoadConfig, per_conn: Vec<ConnResult>) -> LoadReport {
    let window = config.window.as_secs_f64();
    let figures = |conns: &mut dyn Iterator<Item = &ConnResult>| {
        let mut f = Figures::default();
        let mut samples = Vec::new();
        for c in conns {
            f.connections += 1;
            f.sent += c.sent;
            f.completed += c.completed;
            f.errors += c.errors.len() as u64;
            f.timeouts += c.timeouts;
            samples.extend_from_slice(&c.latencies);
        }
        f.throughput = f.completed as f64 / window;
        f.latency = Latency::of(&mut samples);
        f
    };
    let levels = config.levels.min(config.connections.min(255) as u8).max(1);
    LoadReport {
        overall: figures(&mut per_conn.iter()),
        per_priority: (0..levels)
            .map(|p| {
                figures(
                    &mut per_conn
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % config.levels as usize == p as usize)
                        .map(|(_, c)| c),
                )
            })
            .collect(),
        error_samples: per_conn
            .iter()
            .flat_map(|c| c.errors.iter().cloned())
            .take(8)
            .collect(),
    }
}

/// The request connection `conn` sends as its `seq`-th.
fn request(config: &LoadConfig, conn: usize, seq: u64) -> Request {
    let seed = config.seed ^ ((conn as u64) << 32) ^ seq;
    Request {
        seq,
        priority: (conn % config.levels as usize) as u8,
        matrix: CellSource::new(seed)
            .matrix(config.n)
            .expect("the size was checked"),
    }
}

fn connection(
    config: &LoadConfig,
    i: usize,
    stream: TcpStream,
    start: Instant,
    out: &mut ConnResult,
) {
    let _ = stream.set_nodelay(true);
    match config.pacing {
        Pacing::Closed { interval } => closed_loop(config, i, stream, start, interval, out),
        Pacing::Open { rate } => open_loop(config, i, stream, start, rate, out),
    }
}

/// How receiving one reply ended.
enum Received {
    Reply(Instant),
    TimedOut,
    Failed(String),
}

/// Read until a whole frame is buffered, or `deadline`; check it answers
/// `request`.
fn receive(
    stream: &mut TcpStream,
    buf: &mut FrameBuffer<MAX_REPLY_LEN>,
    request: &Request,
    deadline: Instant,
) -> Received {
    loop {
        match buf.next_frame() {
            Ok(Some(Frame::Reply(reply))) if reply.answers(request) => {
                return Received::Reply(Instant::now());
            }
            Ok(Some(Frame::Reply(reply))) => {
                return Received::Failed(format!(
                    "wrong reply to request {} (got seq {}, priority {}, n {})",
                    request.seq,
                    reply.seq,
                    reply.priority,
                    reply.n()
                ));
            }
            Ok(Some(Frame::Error { seq, code })) => {
                return Received::Failed(format!("the server refused request {seq}: code {code}"));
            }
            Ok(Some(Frame::Request(_))) => {
                return Received::Failed("the server sent a request".into());
            }
            Err(e) => return Received::Failed(format!("malformed reply: {e}")),
            Ok(None) => {}
        }
        let now = Instant::now();
        if now >= deadline {
            return Received::TimedOut;
        }
        if stream.set_read_timeout(Some(deadline - now)).is_err() {
            return Received::Failed("cannot set a read timeout".into());
        }
        match stream.read(buf.spare()) {
            Ok(0) => return Received::Failed("the server closed the connection".into()),
            Ok(n) => buf.filled(n),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Received::Failed(format!("read: {e}")),
        }
    }
}

fn encode(request: &Request) -> Vec<u8> {
    let mut bytes = vec![0u8; MAX_REQUEST_LEN];
    let len = request
        .encode(&mut bytes)
        .expect("buffer of the longest request");
    bytes.truncate(len);
    bytes
}

fn closed_loop(
    config: &LoadConfig,
    i: usize,
    mut stream: TcpStream,
    start: Instant,
    interval: Duration,
    out: &mut ConnResult,
) {
    let end = start + config.window;
    let mut buf = FrameBuffer::<MAX_REPLY_LEN>::new();
    let _ = stream.set_write_timeout(Some(config.reply_timeout));
    // Spread the first sends over one interval, as independent clients
    // would be: all connections at the same instant is a burst of N
    // segments at once (which the open loop avoids the same way).
    thread::sleep(interval.mul_f64(i as f64 / config.connections as f64));
    for seq in 0..config.requests_per_connection.unwrap_or(u64::MAX) {
        if Instant::now() >= end {
            break;
        }
        let request = request(config, i, seq);
        let sent_at = Instant::now();
        if let Err(e) = stream.write_all(&encode(&request)) {
            out.error(format!("connection {i}: write request {seq}: {e}"));
            return;
        }
        out.sent += 1;
        match receive(
            &mut stream,
            &mut buf,
            &request,
            sent_at + config.reply_timeout,
        ) {
            Received::Reply(at) => {
                out.latencies.push(at - sent_at);
                if at <= end {
                    out.completed += 1;
                }
            }
            Received::TimedOut => {
                out.timeouts += 1;
                return; // a late reply would desynchronise the stream
            }
            Received::Failed(why) => {
                out.error(format!("connection {i}: {why}"));
                return;
            }
        }
        let wake = Instant::now() + interval;
        if wake >= end {
            break;
        }
        thread::sleep(interval);
    }
    finish(i, stream, &mut buf, out);
}

/// Close our side and expect the server to close its side without
/// sending anything more.
fn finish(
    i: usize,
    mut stream: TcpStream,
    buf: &mut FrameBuffer<MAX_REPLY_LEN>,
    out: &mut ConnResult,
) {
    if stream.shutdown(std::net::Shutdown::Write).is_err() {
        return; // already gone: nothing left to check
    }
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    match stream.read(buf.spare()) {
        Ok(0) => {}
        Ok(n) => out.error(format!(
            "connection {i}: {n} unexpected bytes after the last reply"
        )),
        // The server may reset instead of closing, or be slow: neither
        // concerns a reply.
        Err(_) => {}
    }
}

fn open_loop(
    config: &LoadConfig,
    i: usize,
    stream: TcpStream,
    start: Instant,
    rate: f64,
    out: &mut ConnResult,
) {
    let end = start + config.window;
    let period = Duration::from_secs_f64(1.0 / rate);
    // Spread the connections' phases over one period.
    let phase = period.mul_f64(i as f64 / config.connections as f64);
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(e) => {
            out.error(format!("connection {i}: clone the socket: {e}"));
            return;
        }
    };
    let _ = writer.set_write_timeout(Some(config.reply_timeout));
    let (tx, rx) = mpsc::channel::<(Request, Instant)>();
    let limit = config.requests_per_connection.unwrap_or(u64::MAX);
    let config_w = config.clone();
    let sender = thread::Builder::new()
        .name(format!("netbench-{i}-send"))
        .stack_size(128 << 10)
        .spawn(move || -> (u64, Option<String>) {
            let mut sent = 0;
            for seq in 0..limit {
                let intended = start + phase + period.mul_f64(seq as f64);
                if intended >= end {
                    break;
                }
                let now = Instant::now();
                if intended > now {
                    thread::sleep(intended - now);
                }
                let request = request(&config_w, i, seq);
                let bytes = encode(&request);
                // Announce before writing: the reply may beat the announcement.
                if tx.send((request, intended)).is_err() {
                    break; // the receiver gave up on this connection
                }
                if let Err(e) = writer.write_all(&bytes) {
                    return (
                        sent,
                        Some(format!("connection {i}: write request {seq}: {e}")),
                    );
                }
                sent += 1;
            }
            (sent, None)
        });
    let sender = match sender {
        Ok(s) => s,
        Err(e) => {
            out.error(format!("connection {i}: cannot start its sender: {e}"));
            return;
        }
    };
    let mut stream = stream;
    let mut buf = FrameBuffer::<MAX_REPLY_LEN>::new();
    let mut outstanding: VecDeque<(Request, Instant)> = VecDeque::new();
    let mut sender_done = false;
    let mut failed = false;
    loop {
        // Collect what the sender has announced.
        loop {
            match rx.try_recv() {
                Ok(r) => outstanding.push_back(r),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    sender_done = true;
                    break;
                }
            }
        }
        let Some((request, intended)) = outstanding.front() else {
            if sender_done {
                break;
            }
            thread::sleep(Duration::from_micros(200).min(period));
            continue;
        };
        // Wait for the oldest reply at most until its timeout; come back
        // sooner to collect announcements, so the check runs in order.
        let deadline =
            (*intended + config.reply_timeout).min(Instant::now() + Duration::from_millis(20));
        match receive(&mut stream, &mut buf, request, deadline) {
            Received::Reply(at) => {
                out.latencies.push(at.saturating_duration_since(*intended));
                if at <= end {
                    out.completed += 1;
                }
                outstanding.pop_front();
            }
            Received::TimedOut if Instant::now() >= *intended + config.reply_timeout => {
                out.timeouts += outstanding.len() as u64;
                failed = true;
                break;
            }
            Received::TimedOut => {}
            Received::Failed(why) => {
                out.error(format!("connection {i}: {why}"));
                failed = true;
                break;
            }
        }
    }
    drop(rx); // a sender still running stops at its next request
    if failed {
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }
    match sender.join() {
        Ok((sent, error)) => {
            out.sent = sent;
            if let Some(e) = error {
                if !failed {
                    out.error(e);
                }
            }
        }
        Err(_) => out.error(format!("connection {i}: its sender panicked")),
    }
    if !failed {
        finish(i, stream, &mut buf, out);
    }
}

/// Parse a duration like `100ms`, `5s`, `250us`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|at| s.split_at(at))
        .ok_or_else(|| format!("{s:?}: a duration needs a unit (us, ms, s)"))?;
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: {num:?} is not a number"))?;
    let secs = match unit {
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (us, ms, s)")),
    };
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(format!("{s:?}: not a duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        let l = Latency::of(&mut samples);
        assert_eq!(
            (l.count, l.p50_us, l.p99_us, l.max_us),
            (100, 50.0, 99.0, 100.0)
        );
        assert!((l.mean_us - 50.5).abs() < 1e-9);
        assert_eq!(Latency::of(&mut []), Latency::default());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("xs").is_err());
    }

    #[test]
    fn bad_configurations_are_refused() {
        let addr = "127.0.0.1:9".parse().unwrap();
        let mut c = LoadConfig::papers(addr, 0);
        assert!(run(&c).is_err());
        c.connections = 1;
        c.n = 0;
        assert!(run(&c).is_err());
        c.n = 20;
        c.levels = 0;
        assert!(run(&c).is_err());
        c.levels = 1;
        c.pacing = Pacing::Open { rate: 0.0 };
        assert!(run(&c).is_err());
    }
}
