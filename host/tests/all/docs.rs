//! The book in `docs/` and the README: every internal link (file and `#anchor`) leads
//! somewhere, and every chapter is in `SUMMARY.md` (none written and never found).

use crate::common::repo;
use std::path::{Path, PathBuf};

/// The Markdown files of the README and the book.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![repo().join("README.md")];
    let mut dirs = vec![repo().join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                pages.push(path);
            }
        }
    }
    pages.sort();
    pages
}

/// Lines outside fenced code blocks.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|line| {
            if line.starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// A heading's anchor as GitHub and mdBook make it.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == ' ' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(page: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(page).unwrap();
    prose(&text)
        .into_iter()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

/// `(target)` of every `[text](target)` in the prose, code spans left out.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in prose(text) {
        let line: String = line.split('`').step_by(2).collect::<Vec<_>>().join("");
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            found.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    found
}

#[test]
fn every_internal_link_in_the_readme_and_the_book_leads_somewhere() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for target in links(&text) {
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            checked += 1;
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let path =
                if file.is_empty() { page.clone() } else { page.parent().unwrap().join(file) };
            if !path.exists() {
                broken.push(format!("{}: {target} (no such file)", page.display()));
            } else if !anchor.is_empty() && !anchors(&path).contains(&anchor.to_string()) {
                broken.push(format!("{}: {target} (no such heading)", page.display()));
            }
        }
    }
    assert!(checked > 40, "only {checked} links found: is the scan right?");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_chapter_is_in_the_summary() {
    let docs = repo().join("docs");
    let summary = std::fs::read_to_string(docs.join("SUMMARY.md")).unwrap();
    let listed = links(&summary);
    for page in pages().into_iter().filter(|p| p.starts_with(&docs)) {
        let relative = page.strip_prefix(&docs).unwrap().to_string_lossy().into_owned();
        if relative == "SUMMARY.md" {
            continue;
        }
        assert!(listed.contains(&relative), "docs/{relative} is not in docs/SUMMARY.md");
    }
}

/// The author guide's "first plugin in five minutes" runs as written: each line of its
/// block, `weir` being this build's binary (the Rust build's target directory shared with
/// the scaffold tests, so the SDK compiles once).
#[test]
fn the_five_minute_tutorial_runs_as_written() {
    let guide = std::fs::read_to_string(repo().join("docs/plugins.md")).unwrap();
    let section = guide.split("## Your first plugin in five minutes").nth(1).unwrap();
    let block = section.split("```sh\n").nth(1).unwrap().split("```").next().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = Path::new(env!("WEIR_PLUGIN_DIR")).parent().unwrap().join("plugin-new");
    // A fresh checkout has no such directory yet: the link must lead somewhere.
    std::fs::create_dir_all(&target).unwrap();
    let mut cwd = dir.path().to_path_buf();
    let mut last = String::new();
    for line in block.lines() {
        let words: Vec<&str> = line.split('#').next().unwrap().split_whitespace().collect();
        let Some((program, args)) = words.split_first() else { continue };
        if *program == "cd" {
            cwd = cwd.join(args[0]);
            std::os::unix::fs::symlink(&target, cwd.join("target")).unwrap();
            continue;
        }
        let mut command = match *program {
            "weir" => std::process::Command::new(env!("CARGO_BIN_EXE_weir")),
            "cargo" => std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into())),
            other => panic!("the tutorial runs `{other}`: teach this test what it is"),
        };
        command.args(args).current_dir(&cwd).env("WEIR_CACHE_DIR", crate::common::cache_dir());
        for var in [
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTFLAGS",
            "RUSTC_WORKSPACE_WRAPPER",
            "CARGO_BUILD_TARGET",
            "CARGO_TARGET_DIR",
        ] {
            command.env_remove(var);
        }
        let out = command.output().unwrap();
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "`{line}`:\n{last}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(last.contains(r#""processed_by":"my-filter""#), "the pipeline's output: {last}");
}

/// The book builds with mdBook (from crates.io, as the tests' other tools) and every
/// chapter SUMMARY.md names becomes a page.
#[test]
fn the_book_builds() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(crate::common::tools::mdbook())
        .args(["build", "docs", "--dest-dir"])
        .arg(out_dir.path())
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mdbook build docs:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = std::fs::read_to_string(repo().join("docs/SUMMARY.md")).unwrap();
    for chapter in links(&summary) {
        let page = out_dir.path().join(chapter.replace(".md", ".html"));
        assert!(page.is_file(), "{} was not built", page.display());
    }
}
