//! A counting allocator for the allocation tests (tests/allocations.rs): it counts what one
//! chosen thread allocates, so a server on its own thread is measured while other tests, the
//! client and the harness run beside it uncounted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Allocations (`alloc`, `alloc_zeroed` and `realloc` calls) and the bytes they asked for.
#[derive(Default)]
pub struct Counts {
    allocs: AtomicU64,
    bytes: AtomicU64,
}

impl Counts {
    /// (allocations, bytes) so far.
    pub fn read(&self) -> (u64, u64) {
        (self.allocs.load(Ordering::Relaxed), self.bytes.load(Ordering::Relaxed))
    }
}

thread_local! {
    // Const-initialised and without a destructor, so reading it inside the allocator allocates
    // nothing and works while a thread is torn down.
    static COUNTED: Cell<*const Counts> = const { Cell::new(std::ptr::null()) };
}

/// From now on, what this thread allocates is added to `counts`.
pub fn count_this_thread(counts: &'static Counts) {
    COUNTED.with(|c| c.set(counts));
}

fn note(size: usize) {
    let _ = COUNTED.try_with(|c| {
        // SAFETY: only `count_this_thread` sets the pointer, from a `&'static Counts`.
        if let Some(counts) = unsafe { c.get().as_ref() } {
            counts.allocs.fetch_add(1, Ordering::Relaxed);
            counts.bytes.fetch_add(size as u64, Ordering::Relaxed);
        }
    });
}

/// The system allocator, counting per thread.
pub struct Counting;

// SAFETY: every call is passed on to `System` unchanged; counting touches no allocation.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}
