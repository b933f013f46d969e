//! Link settings for the `wasmix` binary only (never its dependencies, so
//! no change here rebuilds them).

fn main() {
    println!("cargo:rerun-if-env-changed=WASMIX_LINK_PLAIN");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    // Relative relocations packed (DT_RELR): the dynamic loader of a PIE
    // binary this size reads 1.5 MB of relocation entries at every start,
    // a tenth of a small command's time; packed, they are 16 KB. A binary
    // linked so needs a glibc that knows the format (2.36+), and lld marks
    // it as needing one whatever the build machine has: so only when this
    // machine's glibc is one (it is where the binary runs). Set
    // `WASMIX_LINK_PLAIN=1` to build without it.
    if target == host
        && target.ends_with("-linux-gnu")
        && std::env::var_os("WASMIX_LINK_PLAIN").is_none()
        && glibc_has_relr()
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// True when the C library the binary will load defines the symbol version
/// glibc 2.36 introduced for DT_RELR.
fn glibc_has_relr() -> bool {
    const NEEDLE: &[u8] = b"GLIBC_ABI_DT_RELR";
    let candidates = [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/lib/aarch64-linux-gnu/libc.so.6",
        "/lib64/libc.so.6",
        "/usr/lib64/libc.so.6",
        "/usr/lib/libc.so.6",
        "/lib/libc.so.6",
    ];
    for path in candidates {
        if let Ok(bytes) = std::fs::read(path) {
            println!("cargo:rerun-if-changed={path}");
            return bytes.windows(NEEDLE.len()).any(|w| w == NEEDLE);
        }
    }
    false
}
