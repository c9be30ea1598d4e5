fn main() {
    std::process::exit(cella::cli::main());
}
