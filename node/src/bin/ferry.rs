//! The `ferry` command line (see `ferry --help` and the README).

fn main() -> std::process::ExitCode {
    ferry_node::cli::main()
}
