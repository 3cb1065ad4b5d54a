//! The `rumor` program; everything is in [`rumor::cli`].

fn main() -> std::process::ExitCode {
    rumor::cli::main()
}
