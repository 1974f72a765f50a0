//! The `mrsm` command: parsing and printing only; the library does the work.

fn main() {
    std::process::exit(mrsm::cli::main());
}
