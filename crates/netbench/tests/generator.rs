//! The load generator against a host reference server (threads, std) on
//! 127.0.0.1: real sockets, and servers that misbehave on purpose, so each
//! check the generator makes is seen to fail when it should.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use netbench::load::{self, LoadConfig, Pacing};
use netbench::{
    ERROR_LEN, Frame, FrameBuffer, MAX_REPLY_LEN, MAX_REQUEST_LEN, Request, encode_error,
    encode_reply,
};

/// How the reference server answers.
#[derive(Clone, Copy)]
enum Behaviour {
    Correct,
    /// Flip one cell of the reply to every request numbered 2.
    WrongCell,
    /// Answer the opening request only.
    Silent,
    /// Answer nothing at all.
    Mute,
    /// Answer each request after this delay, one at a time.
    Slow(Duration),
}

/// A thread-per-connection server on an ephemeral port of 127.0.0.1; it
/// runs until the test process ends.
fn reference_server(behaviour: Behaviour) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || serve(stream, behaviour));
        }
    });
    addr
}

fn serve(mut stream: TcpStream, behaviour: Behaviour) {
    let mut buf = FrameBuffer::<MAX_REQUEST_LEN>::new();
    let mut out = vec![0u8; MAX_REPLY_LEN];
    loop {
        let request: Request = loop {
            match buf.next_request() {
                Ok(Some(r)) => break r,
                Ok(None) => {}
                Err(e) => {
                    let len = encode_error(0, e, &mut out).unwrap();
                    let _ = stream.write_all(&out[..len]);
                    return;
                }
            }
            match stream.read(buf.spare()) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.filled(n),
            }
        };
        let len = encode_reply(&request, &mut out).unwrap();
        match behaviour {
            Behaviour::Correct => {}
            Behaviour::WrongCell if request.seq == 2 => out[len - 1] ^= 0x40,
            Behaviour::WrongCell => {}
            Behaviour::Silent if request.seq != load::WARMUP_SEQ => continue,
            Behaviour::Silent => {}
            Behaviour::Mute => continue,
            Behaviour::Slow(d) => thread::sleep(d),
        }
        if stream.write_all(&out[..len]).is_err() {
            return;
        }
    }
}

fn config(addr: SocketAddr, connections: usize) -> LoadConfig {
    LoadConfig {
        levels: 8,
        n: 15,
        pacing: Pacing::Closed {
            interval: Duration::from_millis(10),
        },
        window: Duration::from_millis(400),
        reply_timeout: Duration::from_millis(600),
        connect_timeout: Duration::from_millis(500),
        ..LoadConfig::papers(addr, connections)
    }
}

#[test]
fn closed_loop_against_a_correct_server() {
    let addr = reference_server(Behaviour::Correct);
    let report = load::run(&config(addr, 16)).unwrap();
    assert!(report.clean(), "{report:?}");
    assert_eq!(report.per_priority.len(), 8);
    for (p, f) in report.per_priority.iter().enumerate() {
        assert_eq!(f.connections, 2, "priority {p}");
        assert!(f.completed > 0, "priority {p} got no reply");
    }
    // Closed loop: each connection has at most one request out, and about
    // window / (interval + latency) of them complete.
    let o = &report.overall;
    assert!(o.completed <= o.sent && o.sent <= 16 * 41, "{o:?}");
    assert_eq!(o.latency.count as u64, o.sent);
    assert!(o.latency.p50_us <= o.latency.p99_us && o.latency.p99_us <= o.latency.max_us);
}

#[test]
fn a_request_count_bounds_each_connection() {
    let addr = reference_server(Behaviour::Correct);
    let mut c = config(addr, 8);
    c.requests_per_connection = Some(4);
    c.window = Duration::from_secs(30);
    let started = std::time::Instant::now();
    let report = load::run(&c).unwrap();
    assert!(report.clean(), "{report:?}");
    assert_eq!((report.overall.sent, report.overall.completed), (32, 32));
    // About 0.1 s of work: a generous bound that still tells a run that
    // waited for its window.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "it waited for the window"
    );
}

#[test]
fn a_wrong_product_is_an_error() {
    let addr = reference_server(Behaviour::WrongCell);
    let report = load::run(&config(addr, 4)).unwrap();
    assert_eq!(report.overall.errors, 4, "{report:?}");
    assert!(!report.clean());
    assert!(
        report.error_samples[0].contains("wrong reply"),
        "{:?}",
        report.error_samples
    );
    // The two correct replies before it on each connection still count.
    assert_eq!(report.overall.completed, 8);
}

#[test]
fn a_silent_server_times_out_and_the_run_still_ends() {
    let addr = reference_server(Behaviour::Silent);
    let started = std::time::Instant::now();
    let report = load::run(&config(addr, 4)).unwrap();
    assert_eq!(report.overall.timeouts, 4, "{report:?}");
    assert_eq!(report.overall.completed, 0);
    // Bounded by opening + window + reply timeout (1.5 s): generous for a
    // loaded machine.
    assert!(started.elapsed() < Duration::from_secs(10));

    let mut open = config(addr, 2);
    open.pacing = Pacing::Open { rate: 50.0 };
    open.window = Duration::from_millis(200);
    open.reply_timeout = Duration::from_millis(300);
    let report = load::run(&open).unwrap();
    assert_eq!(report.overall.completed, 0);
    assert_eq!(report.overall.timeouts, report.overall.sent, "{report:?}");
    assert!(report.overall.sent >= 2 * 8, "{report:?}");
}

#[test]
fn a_connection_is_open_only_once_it_answered() {
    let addr = reference_server(Behaviour::Mute);
    let report = load::run(&config(addr, 2)).unwrap();
    assert_eq!(report.overall.errors, 2, "{report:?}");
    assert_eq!(report.overall.sent, 0);
    assert!(
        report.error_samples[0].contains("opening request"),
        "{:?}",
        report.error_samples
    );
    assert!(
        report.error_samples[1].contains("not opened"),
        "{:?}",
        report.error_samples
    );
}

#[test]
fn no_server_is_a_connect_error() {
    // Bind then drop: the port is very likely closed now.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let report = load::run(&config(addr, 2)).unwrap();
    assert_eq!(report.overall.errors, 2);
    assert!(
        report.error_samples[0].contains("connect"),
        "{:?}",
        report.error_samples
    );
}

/// A server that answers one request per 20 ms: the closed loop adapts
/// (latency stays about 20 ms), the open loop keeps sending every 5 ms and
/// counts the queueing from each intended send time.
#[test]
fn open_loop_latency_includes_queueing() {
    let addr = reference_server(Behaviour::Slow(Duration::from_millis(20)));
    let mut closed = config(addr, 1);
    closed.pacing = Pacing::Closed {
        interval: Duration::from_millis(1),
    };
    let c = load::run(&closed).unwrap();
    assert!(c.clean(), "{c:?}");

    let mut open = config(addr, 1);
    open.pacing = Pacing::Open { rate: 200.0 };
    open.reply_timeout = Duration::from_secs(5);
    let o = load::run(&open).unwrap();
    assert!(o.clean(), "{o:?}");
    // About 80 requests sent in 400 ms, one answered per 20 ms: the last
    // waited for about 60 before it.
    assert!(o.overall.sent >= 60, "{o:?}");
    assert!(o.overall.latency.max_us > 500_000.0, "{o:?}");
    assert!(o.overall.completed < o.overall.sent, "{o:?}");
    // The same server looks several times faster to the closed loop.
    assert!(
        3.0 * c.overall.latency.max_us < o.overall.latency.max_us,
        "closed {c:?}, open {o:?}"
    );
}

#[test]
fn the_reference_server_refuses_garbage() {
    let addr = reference_server(Behaviour::Correct);
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut reply = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.read_to_end(&mut reply).unwrap();
    assert_eq!(reply.len(), ERROR_LEN);
    assert_eq!(
        netbench::decode(&reply).unwrap().map(|(f, _)| f),
        Some(Frame::Error { seq: 0, code: 1 })
    );
}
