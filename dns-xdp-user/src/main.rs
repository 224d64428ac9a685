//! The `dns-xdp` binary: its command line lives in [`dns_xdp_user::cli`].

fn main() -> std::process::ExitCode {
    dns_xdp_user::cli::main()
}
