//! The platform-level interrupt controller, as the device tree describes
//! it: its base, and for each hart the context whose interrupt is the
//! hart's *supervisor* external interrupt (read from `interrupts-extended`,
//! never computed as `2 * hart + 1`: boards order contexts differently).

use core::ptr::{read_volatile, write_volatile};

use crate::board::MAX_HARTS;

/// Supervisor external interrupt, as a cause number and as the interrupt
/// a PLIC context is wired to in `interrupts-extended`.
const S_EXTERNAL: u32 = 9;
/// Most sources a PLIC has (the register layout's limit).
const MAX_SOURCES: usize = 1024;

/// A PLIC: its registers' base and each hart's S-mode context.
pub struct Plic {
    base: usize,
    /// Sources `1..sources` exist (`riscv,ndev` + 1).
    sources: usize,
    s_context: [Option<usize>; MAX_HARTS],
}

impl Plic {
    /// Find the PLIC in the device tree; `None` if there is none or it is
    /// described in a way we do not understand.
    pub fn discover(fdt: &fdt::Fdt) -> Option<Self> {
        let node = fdt.find_compatible(&["riscv,plic0", "sifive,plic-1.0.0"])?;
        let base = node.reg()?.next()?.starting_address as usize;
        let sources = node
            .property("riscv,ndev")
            .and_then(|p| p.as_usize())
            .map_or(MAX_SOURCES, |n| (n + 1).min(MAX_SOURCES));
        let mut s_context = [None; MAX_HARTS];
        let ie = node.property("interrupts-extended")?.value;
        // Pairs of big-endian cells: (phandle of a hart's interrupt
        // controller, interrupt number); the pair's index is the context.
        for (ctx, pair) in ie.chunks_exact(8).enumerate() {
            let phandle = u32::from_be_bytes(pair[..4].try_into().ok()?);
            let irq = u32::from_be_bytes(pair[4..].try_into().ok()?);
            if irq != S_EXTERNAL {
                continue;
            }
            if let Some(slot) = hart_of_intc(fdt, phandle).and_then(|h| s_context.get_mut(h)) {
                *slot = Some(ctx);
            }
        }
        Some(Self {
            base,
            sources,
            s_context,
        })
    }

    pub fn base(&self) -> usize {
        self.base
    }

    /// The hart's S-mode context, if the device tree gave it one.
    pub fn context_of(&self, hart: usize) -> Option<usize> {
        self.s_context.get(hart).copied().flatten()
    }

    /// Let `irq` interrupt every hart that has an S-mode context: priority
    /// 1, enabled in each context, thresholds 0. `false` if `irq` is not a
    /// source of this PLIC.
    pub fn enable_everywhere(&self, irq: usize) -> bool {
        if irq == 0 || irq >= self.sources {
            return false;
        }
        // SAFETY: the PLIC's registers are identity-mapped (board MMIO
        // gigapage) in every space; `irq` is one of its sources and each
        // context comes from the device tree.
        unsafe {
            write_volatile((self.base + 4 * irq) as *mut u32, 1);
            for ctx in self.s_context.iter().flatten() {
                let enable = (self.base + 0x2000 + 0x80 * ctx + 4 * (irq / 32)) as *mut u32;
                write_volatile(enable, read_volatile(enable) | 1 << (irq % 32));
                write_volatile((self.base + 0x20_0000 + 0x1000 * ctx) as *mut u32, 0);
            }
        }
        true
    }

    /// Claim the next pending source for `ctx` (0: none).
    pub fn claim(&self, ctx: usize) -> usize {
        // SAFETY: as in `enable_everywhere`; reading claim is the claim.
        unsafe { read_volatile((self.base + 0x20_0004 + 0x1000 * ctx) as *const u32) as usize }
    }

    /// Tell the PLIC `ctx` is done with `irq`.
    pub fn complete(&self, ctx: usize, irq: usize) {
        // SAFETY: as in `enable_everywhere`.
        unsafe {
            write_volatile(
                (self.base + 0x20_0004 + 0x1000 * ctx) as *mut u32,
                irq as u32,
            )
        }
    }
}

/// The hart whose CPU interrupt controller has `phandle`.
fn hart_of_intc(fdt: &fdt::Fdt, phandle: u32) -> Option<usize> {
    let cpus = fdt.find_node("/cpus")?;
    for cpu in cpus.children().filter(|n| n.name.starts_with("cpu@")) {
        let hart = cpu.property("reg").and_then(|p| p.as_usize())?;
        let owns = cpu
            .children()
            .filter(|c| c.name.starts_with("interrupt-controller"))
            .any(|c| c.property("phandle").and_then(|p| p.as_usize()) == Some(phandle as usize));
        if owns {
            return Some(hart);
        }
    }
    None
}
