//! `netbench ADDR [options]`: run the load generator against a matrix
//! server and print its figures (a table, or one CSV line with `--csv`).
//! `cargo xtask net-bench` runs the same generator on every point of the
//! papers' experiments.

use std::process::ExitCode;

use netbench::load::{self, Figures, LoadConfig, Pacing, parse_duration};

const USAGE: &str = "usage: netbench HOST:PORT [--connections N] [--levels L] [--n SIZE] \
[--interval 100ms | --rate PER_SECOND] [--window 5s] [--requests K] [--timeout 10s] [--seed S] [--csv]";

fn parse(args: &[String]) -> Result<(LoadConfig, bool), String> {
    let mut it = args.iter();
    let addr = it
        .next()
        .ok_or("no server address")?
        .parse()
        .map_err(|e| format!("server address: {e}"))?;
    let mut config = LoadConfig::papers(addr, 1);
    let mut csv = false;
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: &String| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: {v:?} is not a number"))
        };
        match flag.as_str() {
            "--connections" => config.connections = number(value()?)? as usize,
            "--levels" => {
                config.levels =
                    u8::try_from(number(value()?)?).map_err(|_| "--levels: at most 64")?
            }
            "--n" => config.n = number(value()?)? as usize,
            "--interval" => {
                config.pacing = Pacing::Closed {
                    interval: parse_duration(value()?)?,
                }
            }
            "--rate" => {
                let v = value()?;
                config.pacing = Pacing::Open {
                    rate: v
                        .parse()
                        .map_err(|_| format!("--rate: {v:?} is not a number"))?,
                }
            }
            "--window" => config.window = parse_duration(value()?)?,
            "--requests" => config.requests_per_connection = Some(number(value()?)?),
            "--timeout" => config.reply_timeout = parse_duration(value()?)?,
            "--seed" => config.seed = number(value()?)?,
            "--csv" => csv = true,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok((config, csv))
}

fn row(label: &str, f: &Figures) -> String {
    format!(
        "{label:>8} {:>5} {:>7} {:>7} {:>9.1} {:>10.0} {:>10.0} {:>10.0} {:>10.0} {:>6} {:>8}",
        f.connections,
        f.sent,
        f.completed,
        f.throughput,
        f.latency.mean_us,
        f.latency.p50_us,
        f.latency.p99_us,
        f.latency.max_us,
        f.errors,
        f.timeouts
    )
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (config, csv) = match parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("netbench: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let report = match load::run(&config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("netbench: {e}");
            return ExitCode::from(2);
        }
    };
    if csv {
        println!("priority,connections,{}", Figures::CSV_COLUMNS);
        let line = |p: &str, f: &Figures| println!("{p},{},{}", f.connections, f.csv());
        line("all", &report.overall);
        for (p, f) in report.per_priority.iter().enumerate() {
            line(&p.to_string(), f);
        }
    } else {
        let window = config.window.as_secs_f64();
        println!(
            "netbench: {} connections, {}x{} matrices, {:?}, window {window} s",
            config.connections, config.n, config.n, config.pacing
        );
        println!(
            "{:>8} {:>5} {:>7} {:>7} {:>9} {:>10} {:>10} {:>10} {:>10} {:>6} {:>8}",
            "priority",
            "conns",
            "sent",
            "done",
            "req/s",
            "mean µs",
            "p50 µs",
            "p99 µs",
            "max µs",
            "errors",
            "timeouts"
        );
        println!("{}", row("all", &report.overall));
        if report.per_priority.len() > 1 {
            for (p, f) in report.per_priority.iter().enumerate() {
                println!("{}", row(&p.to_string(), f));
            }
        }
        for e in &report.error_samples {
            println!("netbench: error: {e}");
        }
    }
    if report.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
