//! The workshop (`weir demo`, `bench`, `generate`, `plugin new`) gets what it uses of
//! this crate's library through `weir_workshop::Host`: it sits beside the library, not on
//! top of it, so the crates stay a tree.

/// Gives the workshop the library's resolver, status server, report rendering and stderr.
pub fn attach_workshop() {
    weir_workshop::attach(weir_workshop::Host {
        resolver: &weir::resolve::Resolver,
        serve: |addr, ops| {
            let server = weir::server::serve(addr, ops)?;
            Ok(weir_workshop::Served { addr: server.addr, server: Box::new(server) })
        },
        render: |report| weir::report::render(report, weir::report::Format::Text),
        say: weir::say_line,
        status_page_bytes: weir::server::PAGE_BYTES,
    });
}
