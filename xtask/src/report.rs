//! Counting what passed and failed, and the closing `N passed, M failed` line.
//!
//! The closing line counts tests. A build that succeeds is reported as a
//! build (`xtask: built …`, and a count of builds before the closing line),
//! not as a passed test; a build that fails counts as one failure, so the
//! closing line and the exit status show it.

use std::process::ExitCode;

/// Results of every step, printed at the end.
#[derive(Default)]
pub struct Report {
    passed: usize,
    failed: usize,
    /// Steps that could not run here, with how to enable them.
    skipped: Vec<String>,
    built: usize,
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
    /// A step that could not run here: neither passed nor failed; `why`
    /// says how to enable it.
    pub fn skip(&mut self, what: &str, why: &str) {
        println!("xtask: SKIPPED {what}: {why}");
        self.skipped.push(format!("{what}: {why}"));
    }
    /// Record one build (or compile check): not a test. A failure counts
    /// as one failed item.
    pub fn build(&mut self, what: &str, result: Result<(), String>) {
        match result {
            Ok(()) => {
                println!("xtask: built {what}");
                self.built += 1;
            }
            Err(why) => self.fail(what, 1, &why),
        }
    }
    /// Record one check (a test).
    pub fn check(&mut self, what: &str, result: Result<(), String>) {
        match result {
            Ok(()) => self.pass(what, 1),
            Err(why) => self.fail(what, 1, &why),
        }
    }
    /// Print the summary and closing line.
    pub fn finish(self) -> ExitCode {
        println!(
            "xtask: {} builds succeeded (not counted as tests)",
            self.built
        );
        for f in &self.failures {
            println!("xtask: failed: {f}");
        }
        for s in &self.skipped {
            println!("xtask: skipped (neither passed nor failed): {s}");
        }
        // The closing line is always exactly `N passed, M failed` (CI reads it).
        println!("{} passed, {} failed", self.passed, self.failed);
        if self.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}
