//! The plugin's allocator: the system allocator (dlmalloc in wasm) with a bounded cache of
//! freed small blocks in front of it.
//!
//! A plugin allocates and frees the same few small sizes for every record (a parsed
//! value's strings and maps, a formatted field), and dlmalloc's free and malloc (with their
//! coalescing) were a sixth of the shipped chain's time in wasm. Here a freed block of up
//! to 1 KiB goes onto a list for its size class and the next request of that class pops
//! it: a few instructions each way. The lists hold at most [`CACHE_BYTES`]; past that a
//! freed block goes back to dlmalloc, so a record that allocated a lot leaves at most that
//! much parked where other sizes cannot use it. Every block is a dlmalloc block of its
//! class's size, so whatever is given back coalesces as before.
//!
//! On by default for wasm builds (the `allocator` feature); a plugin with its own
//! `#[global_allocator]` turns the feature off.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;

/// Size classes are multiples of this (also the alignment every cached block has).
const STEP: usize = 16;
/// Largest size cached.
const SMALL: usize = 1024;
const CLASSES: usize = SMALL / STEP;
/// Most bytes the free lists hold.
pub const CACHE_BYTES: usize = 4 << 20;

pub struct SmallBlocks {
    lists: UnsafeCell<Lists>,
}

struct Lists {
    /// Each class's freed blocks, linked through their first word.
    head: [*mut u8; CLASSES],
    /// Bytes on all lists.
    cached: usize,
}

// A wasm32 plugin without the `atomics` feature has one thread: nothing shares the lists.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
unsafe impl Sync for SmallBlocks {}

impl SmallBlocks {
    pub const fn new() -> SmallBlocks {
        SmallBlocks {
            lists: UnsafeCell::new(Lists { head: [std::ptr::null_mut(); CLASSES], cached: 0 }),
        }
    }

    /// Bytes parked on the free lists now.
    pub fn cached(&self) -> usize {
        // SAFETY: one thread (see `Sync`), and no reference into the lists outlives a call.
        unsafe { (*self.lists.get()).cached }
    }
}

impl Default for SmallBlocks {
    fn default() -> Self {
        SmallBlocks::new()
    }
}

/// The class of a layout the cache serves, or `None` (large or over-aligned: dlmalloc's).
#[inline]
fn class(layout: Layout) -> Option<usize> {
    (layout.size() <= SMALL && layout.align() <= STEP)
        .then(|| layout.size().max(1).div_ceil(STEP) - 1)
}

/// The dlmalloc layout of every block in class `c`.
#[inline]
fn block(c: usize) -> Layout {
    Layout::from_size_align((c + 1) * STEP, STEP).expect("a class's size and alignment are valid")
}

// SAFETY: a cached block is a `block(c)` allocation of the system allocator, handed out only
// for layouts of class `c` (which it fits, at an alignment of 16 or less), and returned to
// the system allocator with that same layout.
unsafe impl GlobalAlloc for SmallBlocks {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(c) = class(layout) else { return System.alloc(layout) };
        let lists = &mut *self.lists.get();
        let head = lists.head[c];
        if head.is_null() {
            return System.alloc(block(c));
        }
        lists.head[c] = *(head as *mut *mut u8);
        lists.cached -= block(c).size();
        head
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(c) = class(layout) else { return System.dealloc(ptr, layout) };
        let lists = &mut *self.lists.get();
        let size = block(c).size();
        if lists.cached + size > CACHE_BYTES {
            return System.dealloc(ptr, block(c));
        }
        *(ptr as *mut *mut u8) = lists.head[c];
        lists.head[c] = ptr;
        lists.cached += size;
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = Layout::from_size_align_unchecked(new_size, layout.align());
        match (class(layout), class(new)) {
            // The block already has the class's room.
            (Some(old), Some(c)) if old == c => ptr,
            (None, None) => System.realloc(ptr, layout, new_size),
            _ => {
                let moved = self.alloc(new);
                if !moved.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                moved
            }
        }
    }
}

#[cfg(all(feature = "allocator", target_arch = "wasm32"))]
#[global_allocator]
static ALLOCATOR: SmallBlocks = SmallBlocks::new();

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Alloc { size: usize, align_log: u32 },
        Free(usize),
        Realloc(usize, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1usize..3000, 0u32..7).prop_map(|(size, align_log)| Op::Alloc { size, align_log }),
            any::<usize>().prop_map(Op::Free),
            (any::<usize>(), 1usize..3000).prop_map(|(i, size)| Op::Realloc(i, size)),
        ]
    }

    /// Every live block: its address, layout and the byte it was filled with.
    struct Live(Vec<(*mut u8, Layout, u8)>);

    impl Live {
        fn check(&self, i: usize) {
            let (ptr, layout, fill) = self.0[i];
            assert_eq!(ptr as usize % layout.align(), 0, "aligned");
            let bytes = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            assert!(bytes.iter().all(|b| *b == fill), "a block kept its contents");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

        /// Any sequence of allocations, frees and reallocations: blocks are aligned, keep
        /// their contents (no two live blocks overlap: each is filled with its own byte and
        /// checked when it goes), and the lists stay within their bound.
        #[test]
        fn blocks_keep_their_contents_and_the_cache_its_bound(ops in proptest::collection::vec(op(), 1..400)) {
            let heap = SmallBlocks::new();
            let mut live = Live(Vec::new());
            for (n, op) in ops.into_iter().enumerate() {
                let fill = n as u8;
                match op {
                    Op::Alloc { size, align_log } => unsafe {
                        let layout = Layout::from_size_align(size, 1 << align_log).unwrap();
                        let ptr = heap.alloc(layout);
                        assert!(!ptr.is_null());
                        ptr.write_bytes(fill, size);
                        live.0.push((ptr, layout, fill));
                    },
                    Op::Free(i) if !live.0.is_empty() => unsafe {
                        let i = i % live.0.len();
                        live.check(i);
                        let (ptr, layout, _) = live.0.swap_remove(i);
                        heap.dealloc(ptr, layout);
                    },
                    Op::Realloc(i, size) if !live.0.is_empty() => unsafe {
                        let i = i % live.0.len();
                        live.check(i);
                        let (ptr, layout, old_fill) = live.0[i];
                        let moved = heap.realloc(ptr, layout, size);
                        assert!(!moved.is_null());
                        let kept = std::slice::from_raw_parts(moved, layout.size().min(size));
                        assert!(kept.iter().all(|b| *b == old_fill), "realloc kept the prefix");
                        moved.write_bytes(fill, size);
                        live.0[i] = (moved, Layout::from_size_align(size, layout.align()).unwrap(), fill);
                    },
                    _ => {}
                }
                prop_assert!(heap.cached() <= CACHE_BYTES);
            }
            for i in 0..live.0.len() {
                live.check(i);
            }
            for (ptr, layout, _) in live.0.drain(..) {
                unsafe { heap.dealloc(ptr, layout) };
            }
        }
    }

    /// A record that makes the plugin allocate far more small blocks than the cache holds:
    /// once freed, at most `CACHE_BYTES` stay parked, the rest goes back.
    #[test]
    fn a_burst_of_small_blocks_parks_at_most_the_bound() {
        let heap = SmallBlocks::new();
        let layout = Layout::from_size_align(24, 8).unwrap();
        let blocks: Vec<*mut u8> =
            (0..(3 * CACHE_BYTES / 32)).map(|_| unsafe { heap.alloc(layout) }).collect();
        for ptr in blocks {
            unsafe { heap.dealloc(ptr, layout) };
        }
        assert_eq!(heap.cached(), CACHE_BYTES, "full, and no more");
        // …and the parked blocks are what the next allocations of the class get.
        let again = unsafe { heap.alloc(layout) };
        assert_eq!(heap.cached(), CACHE_BYTES - 32);
        unsafe { heap.dealloc(again, layout) };
    }
}
