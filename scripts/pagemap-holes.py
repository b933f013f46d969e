#!/usr/bin/env python3
"""Does this kernel's PAGEMAP_SCAN report pages that were never touched as
written? wasmix asks because wasmtime's pooling allocator (50 and later)
resets a slot by scanning for written pages: where never-touched pages count
as written, that reset is a memset of its whole budget and gains nothing
over madvise (docs/performance.md, "PAGEMAP_SCAN in wasmtime 50").

Maps 512 anonymous pages (huge pages off for them, or one write would fill
them all), writes page 300, reads page 10, and scans them with wasmtime's
masks (written, not the zero page, not a file), reporting at most 256 pages.
A kernel that counts only real writes reports page 300 alone; one that counts
never-touched pages as written reports pages 0-10 and 11-257 and stops there.
"""
import ctypes
import os
import struct

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                      ctypes.c_int, ctypes.c_int, ctypes.c_long]
PAGE = os.sysconf("SC_PAGE_SIZE")
PAGES = 512
base = libc.mmap(None, PAGES * PAGE, 3, 0x02 | 0x20, -1, 0)  # RW, private|anon
if base in (None, ctypes.c_void_p(-1).value):
    raise SystemExit(f"mmap failed (errno {ctypes.get_errno()})")
libc.madvise(ctypes.c_void_p(base), ctypes.c_size_t(PAGES * PAGE), 15)  # MADV_NOHUGEPAGE
ctypes.memset(base + 300 * PAGE, 1, 1)
ctypes.string_at(base + 10 * PAGE, 1)

WRITTEN, FILE, PFNZERO = 1 << 1, 1 << 2, 1 << 5
regions = (ctypes.c_uint64 * (3 * 64))()
# struct pm_scan_arg: size, flags, start, end, walk_end, vec, vec_len,
# max_pages, category_inverted, category_mask, category_anyof_mask, return_mask
arg = ctypes.create_string_buffer(struct.pack(
    "12Q", 96, 0, base, base + PAGES * PAGE, 0, ctypes.addressof(regions), 64,
    256, PFNZERO | FILE, WRITTEN | PFNZERO | FILE, 0, 0))
fd = os.open("/proc/self/pagemap", os.O_RDONLY)
n = libc.ioctl(fd, ctypes.c_ulong(0xC0606610), arg)  # PAGEMAP_SCAN
os.close(fd)
if n < 0:
    raise SystemExit(f"PAGEMAP_SCAN failed (errno {ctypes.get_errno()}): Linux 6.7+ needed")
found = [((regions[3 * i] - base) // PAGE, (regions[3 * i + 1] - base) // PAGE)
         for i in range(n)]
print("regions reported as written (pages):", found or "none")
holes = any(start <= p < end for start, end in found for p in (0, 200))
print("never-touched pages count as written:", "yes" if holes else "no")
