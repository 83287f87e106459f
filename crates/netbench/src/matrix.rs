//! The request's [`Matrix`] and [`CellSource`], the deterministic
//! generator of request matrices.

use core::fmt;

use crate::{MAX_CELLS, MAX_N, ProtocolError};

/// A square matrix of `i8` cells, at most [`MAX_N`] on a side (kept in a
/// fixed array: the server decodes without allocating).
#[derive(Clone, PartialEq, Eq)]
pub struct Matrix {
    pub(crate) n: u8,
    cells: [i8; MAX_CELLS],
}

impl fmt::Debug for Matrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Matrix")
            .field("n", &self.n)
            .field("cells", &self.cells())
            .finish()
    }
}

impl Matrix {
    /// The `n × n` matrix whose cell `(i, j)` is `cell(i, j)`.
    pub fn from_fn(
        n: usize,
        mut cell: impl FnMut(usize, usize) -> i8,
    ) -> Result<Self, ProtocolError> {
        let side = check_size(n)?;
        let mut cells = [0; MAX_CELLS];
        for i in 0..n {
            for j in 0..n {
                cells[i * n + j] = cell(i, j);
            }
        }
        Ok(Matrix { n: side, cells })
    }

    /// The `n × n` matrix of `cells` (row major).
    pub fn from_cells(n: usize, cells: &[i8]) -> Result<Self, ProtocolError> {
        check_size(n)?;
        if cells.len() != n * n {
            return Err(ProtocolError::CellCount {
                n,
                cells: cells.len(),
            });
        }
        Matrix::from_fn(n, |i, j| cells[i * n + j])
    }

    /// The side.
    pub fn n(&self) -> usize {
        self.n as usize
    }

    /// The cells, row major.
    pub fn cells(&self) -> &[i8] {
        &self.cells[..self.n() * self.n()]
    }

    /// Cell `(i, j)`.
    pub fn get(&self, i: usize, j: usize) -> i8 {
        self.cells[i * self.n() + j]
    }

    /// Cell `(i, j)` of the square `self · self`. Cannot overflow:
    /// `|sum| <= MAX_N · 128² = 2^19`.
    pub fn square_cell(&self, i: usize, j: usize) -> i32 {
        (0..self.n())
            .map(|k| i32::from(self.get(i, k)) * i32::from(self.get(k, j)))
            .sum()
    }
}

fn check_size(n: usize) -> Result<u8, ProtocolError> {
    match u8::try_from(n) {
        Ok(side) if (1..=MAX_N).contains(&n) => Ok(side),
        _ => Err(ProtocolError::BadSize(u8::try_from(n).unwrap_or(u8::MAX))),
    }
}

/// A deterministic generator of request matrices (xorshift64*), so runs are
/// reproducible without a dependency.
#[derive(Clone, Debug)]
pub struct CellSource(u64);

impl CellSource {
    /// A source from `seed` (any value).
    pub fn new(seed: u64) -> Self {
        CellSource(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// An `n × n` matrix of cells over the whole `i8` range.
    pub fn matrix(&mut self, n: usize) -> Result<Matrix, ProtocolError> {
        Matrix::from_fn(n, |_, _| (self.next_u64() >> 56) as u8 as i8)
    }
}
