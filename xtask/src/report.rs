//! Counting what passed and failed, and the closing `N passed, M failed` line.

use std::process::ExitCode;

/// Results of every step, printed at the end.
#[derive(Default)]
pub struct Report {
    passed: usize,
    failed: usize,
    failures: Vec<String>,
}

impl Report {
    /// Count `n` passing tests of step `what`.
    pub fn pass(&mut self, what: &str, n: usize) {
        println!("xtask: ok   {what} ({n} passed)");
        self.passed += n;
    }
    /// Count `n` failing tests of step `what`.
    pub fn fail(&mut self, what: &str, n: usize, why: &str) {
        println!("xtask: FAIL {what} ({n} failed): {why}");
        self.failed += n.max(1);
        self.failures.push(format!("{what}: {why}"));
    }
    /// Record one check.
    pub fn check(&mut self, what: &str, result: Result<(), String>) {
        match result {
            Ok(()) => self.pass(what, 1),
            Err(why) => self.fail(what, 1, &why),
        }
    }
    /// Print the summary and closing line.
    pub fn finish(self) -> ExitCode {
        for f in &self.failures {
            println!("xtask: failed: {f}");
        }
        println!("{} passed, {} failed", self.passed, self.failed);
        if self.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}
