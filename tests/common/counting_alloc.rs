//! A global allocator that counts the bytes live on the heap, for tests
//! that bound what hostile input can make a node keep. A test binary
//! includes it once: `#[path = "common/counting_alloc.rs"] mod counting_alloc;`
//! and reads [`live`] around the work it measures.
//!
//! Counted per thread: the test harness runs other tests on other threads
//! at the same time, and their allocations must not show up in a
//! measurement (that made the bound flaky under load). The work measured
//! runs on the test's own thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    // Const-initialised and without a destructor: safe to touch from the
    // allocator (it never allocates).
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // During thread teardown the slot may be gone: nothing to count then.
    let _ = LIVE.try_with(|live| live.set(live.get() + delta));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes allocated and not yet freed by this thread (freed here, that is:
/// memory another thread frees is counted there).
pub fn live() -> isize {
    LIVE.with(Cell::get)
}
