//! Finds the eBPF object that `cargo xtask build-ebpf` produced, so `src/fastpath/object.rs` can embed it.
//! Building the agent without it fails here with the command that makes it.

use std::{env, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=DNS_XDP_EBPF_OBJECT");
    let object = match env::var_os("DNS_XDP_EBPF_OBJECT") {
        Some(path) => PathBuf::from(path),
        None => {
            let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
            manifest.join("../target/bpfel-unknown-none/release/dns-xdp-ebpf")
        }
    };
    println!("cargo:rerun-if-changed={}", object.display());
    if !object.is_file() {
        panic!(
            "\n\nthe eBPF object {} is missing.\n\
             Build it first with `cargo xtask build-ebpf` (or point DNS_XDP_EBPF_OBJECT at it).\n",
            object.display()
        );
    }
    println!("cargo:rustc-env=DNS_XDP_EBPF_OBJECT={}", object.display());
}
