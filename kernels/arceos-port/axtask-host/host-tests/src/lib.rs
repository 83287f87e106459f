//! Only the tests in `tests/` matter.
