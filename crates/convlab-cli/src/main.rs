fn main() {
    println!("convlab {}", env!("CARGO_PKG_VERSION"));
}
