//! The writable memory of a call (stack, heap, room for its input), taken from a per-thread pool and handed
//! back zeroed at a cost proportional to what the call touched.
//!
//! A fresh call needs `stack_size + heap_size` bytes of zeros (256 KiB + 32 KiB by default).
//! Allocating and zeroing them on every call was half of a warm trivial call. Instead each
//! thread keeps slabs: one private anonymous mapping cut into [`SLOTS`] equal slots. A call
//! takes a clean slot and, when it ends, leaves it dirty. When a slab has no clean slot left,
//! all its dirty slots are cleared at once by `tos_engine_api::pages::zero_touched_in`: one
//! question to the kernel for the whole slab says which pages are present, and only those get
//! zeros written (or, past a few dozen in a slot, the slot's pages are given back). So the
//! fixed cost of asking (about a microsecond) is paid once per [`SLOTS`] calls, a call that
//! used one page of stack pays for about one page, and no call can observe anything an
//! earlier one wrote: a slot is never handed out dirty.
//!
//! Nested calls (ABI v2) take their own slot from the same slabs (a slab whose every slot is
//! taken makes another). Where mappings are unavailable (not unix, or `mmap` failed) the
//! memory is a zeroed heap allocation. A slot may end in a scratch part that is never
//! cleared (see [`Arena`]).
//!
//! A slot also learns whether a call wrote its stack or its heap at all: rbpf is given each
//! as a copy-on-write region over a shared read-only area of zeros ([`zeros`]), and the first
//! store into it (by the guest or by a syscall writing guest memory) asks [`first_write`] for
//! the slot's own memory. A part nobody wrote is not cleared, and a call that wrote neither
//! (a call that only reads its input, say) returns its slot clean: no clearing, no question
//! to the kernel.

use std::cell::{Cell, RefCell};
use std::ops::Range;
use std::rc::Rc;

use solana_rbpf::aligned_memory::AlignedMemory;
use solana_rbpf::ebpf;
use tos_engine_api::pages::page_size;

/// Slots per slab: calls between two clearings of a slab.
pub(crate) const SLOTS: usize = 16;

/// Slabs a thread keeps; past it, one no call is using is unmapped first.
const MAX_SLABS: usize = 8;

/// What a slot holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Slot {
    /// Zeros in its cleared prefix: ready for a call.
    Clean,
    /// Lent to a live [`Arena`].
    Taken,
    /// Released by a call, not cleared yet.
    Dirty,
}

#[cfg(unix)]
mod mapping {
    use std::ptr::NonNull;

    /// A private anonymous read-write mapping of `len` bytes.
    pub(super) struct Mapping {
        ptr: NonNull<u8>,
        len: usize,
    }

    impl Mapping {
        /// Maps `len` bytes of zeros, or `None` when the kernel refuses.
        pub(super) fn new(len: usize) -> Option<Mapping> {
            if len == 0 {
                return None;
            }
            // SAFETY: an anonymous private mapping at an address the kernel chooses touches no
            // existing memory; the result is checked before use.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if ptr == libc::MAP_FAILED {
                return None;
            }
            NonNull::new(ptr.cast::<u8>()).map(|ptr| Mapping { ptr, len })
        }

        pub(super) fn len(&self) -> usize {
            self.len
        }

        pub(super) fn ptr(&self) -> *mut u8 {
            self.ptr.as_ptr()
        }
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            // SAFETY: unmaps exactly the range `new` mapped; no reference to it outlives
            // `self` (every `Arena` holds the slab, and so the mapping, alive). A failure
            // leaks the range, which is all that can be done in a drop.
            unsafe {
                libc::munmap(self.ptr.as_ptr().cast(), self.len);
            }
        }
    }
}

#[cfg(not(unix))]
mod mapping {
    /// No mappings here: every call gets a zeroed heap allocation.
    pub(super) struct Mapping(std::convert::Infallible);

    impl Mapping {
        pub(super) fn new(_len: usize) -> Option<Mapping> {
            None
        }
        pub(super) fn len(&self) -> usize {
            match self.0 {}
        }
        pub(super) fn ptr(&self) -> *mut u8 {
            match self.0 {}
        }
    }
}

use mapping::Mapping;

/// The parts of a slot that are cleared: the stack, then the heap.
pub(crate) const PARTS: usize = 2;

/// Where the first store into a part of a slot goes, and the record that it happened: the
/// payload of the part's copy-on-write region is this record's address.
struct Target {
    /// The part's own memory in the slot.
    host: u64,
    /// Whether a store reached it since the slot was last clean.
    written: Cell<bool>,
}

/// One mapping cut into [`SLOTS`] slots of `slot_len` bytes, each starting with the parts
/// `parts` (stack, heap), which are zero whenever the slot is [`Slot::Clean`].
struct Slab {
    map: Mapping,
    slot_len: usize,
    parts: [usize; PARTS],
    slots: [Cell<Slot>; SLOTS],
    targets: [[Target; PARTS]; SLOTS],
}

impl Slab {
    fn new(slot_len: usize, parts: [usize; PARTS]) -> Option<Slab> {
        let map = Mapping::new(slot_len.checked_mul(SLOTS)?)?;
        let base = map.ptr() as u64;
        let targets = std::array::from_fn(|i| {
            let mut at = base.saturating_add(i.saturating_mul(slot_len) as u64);
            std::array::from_fn(|p| {
                let host = at;
                at = at.saturating_add(parts[p] as u64);
                Target {
                    host,
                    written: Cell::new(false),
                }
            })
        });
        Some(Slab {
            map,
            slot_len,
            parts,
            slots: std::array::from_fn(|_| Cell::new(Slot::Clean)),
            targets,
        })
    }

    /// Takes a clean slot, clearing the dirty ones first if none is clean.
    fn take(&self) -> Option<usize> {
        let clean = || self.slots.iter().position(|s| s.get() == Slot::Clean);
        let i = clean().or_else(|| {
            self.clear_dirty();
            clean()
        })?;
        self.slots[i].set(Slot::Taken);
        Some(i)
    }

    /// Hands slot `i` back: clean if no part of it was written, else dirty.
    fn release(&self, i: usize) {
        let written = self.targets[i].iter().any(|t| t.written.get());
        self.slots[i].set(if written { Slot::Dirty } else { Slot::Clean });
    }

    /// Clears the written parts of every dirty slot with one question to the kernel.
    fn clear_dirty(&self) {
        let page = page_size();
        let dirty = |i: usize| self.slots[i].get() == Slot::Dirty;
        if !(0..SLOTS).any(dirty) {
            return;
        }
        // Each written part, widened to whole pages (a page shared by the stack's end and
        // the heap's start is cleared with whichever was written).
        let ranges: [[Range<usize>; PARTS]; SLOTS] = std::array::from_fn(|i| {
            let mut at = i.saturating_mul(self.slot_len);
            std::array::from_fn(|p| {
                let (start, end) = (at, at.saturating_add(self.parts[p]));
                at = end;
                if dirty(i) && self.targets[i][p].written.get() {
                    let slot_end = i.saturating_add(1).saturating_mul(self.slot_len);
                    let from = start.saturating_sub(start.checked_rem(page).unwrap_or(0));
                    from..end
                        .checked_next_multiple_of(page)
                        .unwrap_or(end)
                        .min(slot_end)
                } else {
                    start..start
                }
            })
        });
        // SAFETY: the mapping is private and anonymous (`Mapping::new`) and `SLOTS *
        // slot_len` bytes long; each non-empty range lies in a dirty slot, which no `Arena`
        // holds (a slot is lent only while `Taken`), so nothing references it; taken slots
        // are not in the ranges and are not read or written.
        unsafe {
            tos_engine_api::pages::zero_touched_in(
                self.map.ptr(),
                self.map.len(),
                ranges.as_flattened(),
            )
        };
        for (slot, targets) in self.slots.iter().zip(&self.targets) {
            if slot.get() == Slot::Dirty {
                slot.set(Slot::Clean);
                targets.iter().for_each(|t| t.written.set(false));
            }
        }
    }

    /// Whether no call holds a slot of it.
    fn idle(&self) -> bool {
        self.slots.iter().all(|s| s.get() != Slot::Taken)
    }
}

/// The copy-on-write callback of a call's memory mapping: the first store into a part of a
/// slot (a region in state `Cow(payload)`) records that the part was written and moves the
/// region onto the part's own memory, which is all zeros, as was the area it read before.
///
/// # Safety (of the payloads)
/// Only [`Arena::split`] makes payloads: each is the address of a [`Target`] of a slab
/// the arena keeps alive, and the engine drops the mapping before the arena.
pub(crate) fn first_write(payload: u64) -> Result<u64, ()> {
    // SAFETY: see above: the payload is the address of a live `Target`, only read here
    // (`written` is a `Cell`; the slab is used by this thread alone).
    let target = unsafe { &*(payload as usize as *const Target) };
    target.written.set(true);
    Ok(target.host)
}

/// The address of `len` bytes of zeros that are never written (a shared read-only mapping:
/// what a part reads until its first store), or `None` when there is no such area that large.
pub(crate) fn zeros(len: usize) -> Option<u64> {
    /// The area's length: the largest stack a configuration allows (256 frames of 64 KiB).
    const ZEROS: usize = 16 << 20;
    #[cfg(unix)]
    {
        use std::sync::OnceLock;
        static AREA: OnceLock<Option<usize>> = OnceLock::new();
        let area = *AREA.get_or_init(|| {
            // SAFETY: a new private anonymous read-only mapping at an address the kernel
            // chooses touches no existing memory; it is never unmapped or written, so its
            // bytes read as zeros for the life of the process.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    ZEROS,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            (ptr != libc::MAP_FAILED).then_some(ptr as usize)
        });
        area.filter(|_| len <= ZEROS).map(|a| a as u64)
    }
    #[cfg(not(unix))]
    {
        let _ = (len, ZEROS);
        None
    }
}

thread_local! {
    /// This thread's slabs.
    static SLABS: RefCell<Vec<Rc<Slab>>> = const { RefCell::new(Vec::new()) };
}

/// The writable memory of one call, returned to its slab when dropped: the parts (stack,
/// heap) all zeros, then at least `scratch` bytes holding whatever an earlier call left (the
/// call writes them before the guest can read them: the copy of its input, in a region
/// exactly as long).
pub(crate) struct Arena {
    /// The slab and slot lent, or `None` when the memory is on the heap.
    slot: Option<(Rc<Slab>, usize)>,
    /// The heap allocation when no mapping could be had.
    heap: Option<AlignedMemory<{ ebpf::HOST_ALIGN }>>,
}

impl Arena {
    /// The parts (`parts[0]` then `parts[1]` bytes) all zeros, followed by at least `scratch`
    /// bytes of anything: a slot of one of this thread's slabs, else of a new slab, else
    /// the heap.
    pub(crate) fn take(parts: [usize; PARTS], scratch: usize) -> Arena {
        let zeroed = parts.iter().fold(0usize, |a, p| a.saturating_add(*p));
        let slot_len = zeroed
            .saturating_add(scratch)
            .checked_next_multiple_of(page_size());
        let lent = slot_len.and_then(|slot_len| {
            SLABS
                .try_with(|slabs| {
                    let mut slabs = slabs.try_borrow_mut().ok()?;
                    lend(&mut slabs, slot_len, parts)
                })
                .ok()
                .flatten()
        });
        match lent {
            Some(slot) => Arena {
                slot: Some(slot),
                heap: None,
            },
            None => Arena {
                slot: None,
                heap: Some(AlignedMemory::zero_filled(zeroed.saturating_add(scratch))),
            },
        }
    }

    /// The memory cut into its parts and the scratch room, with what a mapping needs to
    /// learn which parts the call writes ([`Tracking`]), or `None` when the arena cannot
    /// track writes (heap memory, or no area of zeros as large): every part then counts as
    /// written.
    pub(crate) fn split(&mut self, parts: [usize; PARTS]) -> Split<'_> {
        let cow = match &self.slot {
            Some((slab, i)) => {
                let zeros = slab.parts.iter().max().copied().and_then(zeros);
                let targets = &slab.targets[*i];
                if zeros.is_none() {
                    targets.iter().for_each(|t| t.written.set(true));
                }
                zeros.map(|zeros| Tracking {
                    zeros,
                    payloads: std::array::from_fn(|p| {
                        std::ptr::from_ref(&targets[p]) as usize as u64
                    }),
                })
            }
            None => None,
        };
        let bytes = self.bytes();
        let (stack, rest) = bytes.split_at_mut(parts[0].min(bytes.len()));
        let (heap, scratch) = rest.split_at_mut(parts[1].min(rest.len()));
        Split {
            parts: [stack, heap],
            scratch,
            cow,
        }
    }

    /// All the bytes, without tracking: every part counts as written.
    #[cfg(test)]
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        if let Some((slab, i)) = &self.slot {
            slab.targets[*i].iter().for_each(|t| t.written.set(true));
        }
        self.bytes()
    }

    fn bytes(&mut self) -> &mut [u8] {
        match (&self.slot, &mut self.heap) {
            (Some((slab, i)), _) => {
                // SAFETY: slot `i` lies within the slab's mapping (`i < SLOTS`), which the
                // `Rc` keeps mapped; it is `Taken` by this arena alone until it drops, and
                // `&mut self` makes this the only reference to it.
                unsafe {
                    std::slice::from_raw_parts_mut(
                        slab.map.ptr().add(i.saturating_mul(slab.slot_len)),
                        slab.slot_len,
                    )
                }
            }
            (None, Some(h)) => h.as_slice_mut(),
            (None, None) => &mut [],
        }
    }
}

/// An [`Arena`] cut up: the parts (stack, heap) and the scratch room after them.
pub(crate) struct Split<'a> {
    /// The stack and the heap, all zeros.
    pub(crate) parts: [&'a mut [u8]; PARTS],
    /// The room after them, holding anything.
    pub(crate) scratch: &'a mut [u8],
    /// How to learn which parts the call writes, if the arena can.
    pub(crate) cow: Option<Tracking>,
}

/// How a call's mapping tells its arena which parts it wrote: each part is given to rbpf as
/// a copy-on-write region reading `zeros` (at least as long as the part), with state
/// `Cow(payloads[part])`, and the mapping's callback is [`first_write`]. Nothing may write
/// a part except through that mapping.
#[derive(Clone, Copy)]
pub(crate) struct Tracking {
    /// The address of zeros at least as long as any part.
    pub(crate) zeros: u64,
    /// Each part's payload for [`first_write`].
    pub(crate) payloads: [u64; PARTS],
}

/// A clean slot of `slot_len` bytes (starting with `parts` of zeros) from `slabs`, mapping a
/// new slab if every matching one is fully taken.
fn lend(
    slabs: &mut Vec<Rc<Slab>>,
    slot_len: usize,
    parts: [usize; PARTS],
) -> Option<(Rc<Slab>, usize)> {
    let fits = |s: &Rc<Slab>| s.slot_len == slot_len && s.parts == parts;
    for slab in slabs.iter().filter(|s| fits(s)) {
        if let Some(i) = slab.take() {
            return Some((Rc::clone(slab), i));
        }
    }
    if slabs.len() >= MAX_SLABS {
        let idle = slabs.iter().position(|s| s.idle())?;
        slabs.remove(idle);
    }
    let slab = Rc::new(Slab::new(slot_len, parts)?);
    let i = slab.take()?;
    slabs.push(Rc::clone(&slab));
    Some((slab, i))
}

impl Drop for Arena {
    fn drop(&mut self) {
        if let Some((slab, i)) = self.slot.take() {
            slab.release(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls that write a few pages, or every page, then release: every arena taken reads
    /// zero, slots come back after a clearing, and a nested call (one taken while another is
    /// held) gets memory of its own, even past a slab's worth of nesting.
    #[test]
    fn every_arena_taken_reads_zero_and_slots_are_reused() {
        let (parts, scratch) = ([64 * 4096, 16 * 4096], 3 * 4096);
        for all in [false, true] {
            // Each on a thread of its own, so the slabs start empty.
            std::thread::spawn(move || round(parts, scratch, all))
                .join()
                .unwrap();
        }
        fn round(parts: [usize; PARTS], scratch: usize, all: bool) {
            let zeroed = parts[0] + parts[1];
            let mut seen = std::collections::HashSet::new();
            for call in 0..SLOTS * 3 + 5 {
                let mut a = Arena::take(parts, scratch);
                let bytes = a.as_mut_slice();
                assert!(bytes.len() >= zeroed + scratch);
                assert!(
                    bytes[..zeroed].iter().all(|b| *b == 0),
                    "call {call} sees nothing of an earlier one"
                );
                if all {
                    bytes.fill(0xAB);
                } else {
                    for i in [0, 4095, 4096, 8192 + call, 9000, zeroed - 1, zeroed + 5] {
                        bytes[i] = 0xAB;
                    }
                }
                seen.insert(bytes.as_ptr() as usize);
            }
            if cfg!(unix) {
                assert_eq!(seen.len(), SLOTS, "the slots of one slab are reused");
            }
            // Nesting deeper than a slab: every level has memory of its own, all zero.
            let mut held: Vec<Arena> = Vec::new();
            for level in 0..SLOTS + 3 {
                let mut a = Arena::take(parts, scratch);
                assert!(a.as_mut_slice()[..zeroed].iter().all(|b| *b == 0));
                a.as_mut_slice()[..zeroed].fill(level as u8 + 1);
                let p = a.as_mut_slice().as_ptr();
                assert!(held.iter_mut().all(|h| h.as_mut_slice().as_ptr() != p));
                held.push(a);
            }
            // What the held ones wrote is theirs until released: clearing others for new
            // calls does not touch it.
            drop(held.pop());
            for _ in 0..SLOTS * 2 {
                drop(Arena::take(parts, scratch));
            }
            for (level, h) in held.iter_mut().enumerate() {
                assert!(
                    h.as_mut_slice()[..zeroed]
                        .iter()
                        .all(|b| *b == level as u8 + 1)
                );
            }
        }
    }
}
