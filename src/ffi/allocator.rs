//! Every heap block the library frees is overwritten first.
//!
//! Secrets pass through many buffers the library does not own: ureq's and
//! rustls's connection buffers (the request with the client secret, the
//! answer with the tokens, TLS plaintext), `http` header values (the proxy's
//! `Proxy-Authorization`), serde_json's strings. Rather than chase each
//! copy, the library's global allocator wipes every block before giving it
//! back to the C allocator, and `realloc` never moves a block without
//! wiping the old one. A block is the library's own: the host program's
//! allocations (its `malloc` and `free`) are not touched.
//!
//! What this cannot reach: copies on the stack, the kernel's socket
//! buffers, and the strings the caller passes in.

use std::alloc::{GlobalAlloc, Layout, System};

pub struct WipingAllocator;

/// Overwrites `length` bytes at `start`, in a way the compiler may not
/// remove even though the memory is about to be freed.
///
/// # Safety
/// `start` is valid for writes of `length` bytes.
unsafe fn wipe(start: *mut u8, length: usize) {
    // SAFETY: as this function's contract says.
    unsafe { libc::explicit_bzero(start.cast(), length) };
}

// SAFETY: every block comes from `System` and goes back to it with the same
// layout; wiping only writes inside the block.
unsafe impl GlobalAlloc for WipingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: `block` is live and `layout.size()` bytes long.
        unsafe {
            wipe(block, layout.size());
            System.dealloc(block, layout);
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `block` is a live block of `layout` from `System` (so from
        // malloc), and `new_size` is valid for `layout.align()`.
        unsafe {
            if new_size <= layout.size() {
                wipe(block.add(new_size), layout.size() - new_size);
                return block;
            }
            if new_size <= libc::malloc_usable_size(block.cast()) {
                return block;
            }
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let moved = System.alloc(new_layout);
            if !moved.is_null() {
                std::ptr::copy_nonoverlapping(block, moved, layout.size());
                self.dealloc(block, layout);
            }
            moved
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (That `dealloc` wipes is checked from C, by `tests/c/freed_memory.c`,
    /// which sees every block as it is freed.)
    #[test]
    fn shrinking_wipes_the_tail_and_growing_keeps_the_contents() {
        let layout = Layout::from_size_align(64, 8).unwrap();
        // SAFETY: blocks from this allocator, used within their sizes.
        unsafe {
            let block = WipingAllocator.alloc(layout);
            std::ptr::write_bytes(block, 0xAB, 64);
            let same = WipingAllocator.realloc(block, layout, 16);
            assert_eq!(same, block);
            assert!((16..64).all(|i| *block.add(i) == 0));
            assert!((0..16).all(|i| *block.add(i) == 0xAB));
            let small = Layout::from_size_align(16, 8).unwrap();
            let grown = WipingAllocator.realloc(block, small, 100_000);
            assert!((0..16).all(|i| *grown.add(i) == 0xAB));
            WipingAllocator.dealloc(grown, Layout::from_size_align(100_000, 8).unwrap());
        }
    }
}
