//! Link settings for the `wasmix` binary only (never its dependencies, so
//! no change here rebuilds them).

fn main() {
    println!("cargo:rerun-if-env-changed=WASMIX_LINK_PLAIN");
    let target = std::env::var("TARGET").unwrap_or_default();
    // Relative relocations packed (DT_RELR): the dynamic loader of a PIE
    // binary this size reads 1.5 MB of relocation entries at every start,
    // a tenth of a small command's time; packed, they are 16 KB. Needs
    // binutils 2.38 or lld 15, and glibc 2.36 where the binary runs;
    // `WASMIX_LINK_PLAIN=1` builds without it.
    if target.ends_with("-linux-gnu") && std::env::var_os("WASMIX_LINK_PLAIN").is_none() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
