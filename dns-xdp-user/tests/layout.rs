//! The crate reads as the data flows: each top-level module imports only modules before it in
//! [`LAYERS`], so no two modules import each other and a reader can follow the data one way.
//! Test code may use anything (a test of the zone model may ask the responder); only the
//! code that ships is held to the order.
//!
//! README.md's Layout section is checked too: every path it names exists.

use std::{
    fs,
    path::{Path, PathBuf},
};

/// The top-level modules, from the bottom up: files and settings, the zone model, what is
/// built from them, the two paths that answer, and what drives and shows it all.
const LAYERS: &[&str] = &[
    "error", "config", "zone", "dnssec", "alias", "health", "catalog", "render", "steering",
    "fastpath", "fallback", "metrics", "lint", "status", "daemon", "cli",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether a file holds only tests.
fn is_test_file(relative: &Path) -> bool {
    let name = relative.file_stem().unwrap().to_string_lossy();
    name == "tests"
        || name.ends_with("_tests")
        || name == "test_support"
        || relative.iter().any(|part| part == "tests")
}

/// `text` without its comments (a link in documentation is no dependency) and its
/// `#[cfg(test)]` items: a `mod x;` line, or a `mod x { ... }` block.
fn without_tests(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text
        .lines()
        .map(|line| line.find("//").map_or(line, |at| &line[..at]));
    while let Some(line) = lines.next() {
        if line.trim() != "#[cfg(test)]" {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let Some(item) = lines.next() else { break };
        if item.trim_end().ends_with(';') {
            continue;
        }
        let mut depth = item.matches('{').count() as i64 - item.matches('}').count() as i64;
        while depth > 0 {
            let Some(line) = lines.next() else { break };
            depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
        }
    }
    out
}

/// The top-level modules `code` names through `crate::`.
fn crate_references(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The group's items at depth 0: `a::b`, `c::{d, e}`, `f`.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.extend(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            found.extend(first_segment(&item));
        } else {
            found.extend(first_segment(rest));
        }
    }
    found
}

fn first_segment(path: &str) -> Option<String> {
    let name: String = path
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

#[test]
fn every_module_imports_only_the_modules_below_it() {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    let mut problems = Vec::new();
    let mut seen_modules = Vec::new();
    for path in &files {
        let relative = path.strip_prefix(&root).unwrap();
        let top = relative
            .iter()
            .next()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || top == "main" || is_test_file(relative) {
            continue;
        }
        let Some(layer) = LAYERS.iter().position(|m| *m == top) else {
            problems.push(format!(
                "{}: module {top} is not in LAYERS",
                relative.display()
            ));
            continue;
        };
        seen_modules.push(top.clone());
        let code = without_tests(&fs::read_to_string(path).unwrap());
        for used in crate_references(&code) {
            match LAYERS.iter().position(|m| *m == used) {
                Some(at) if at > layer => problems.push(format!(
                    "{} (module {top}) uses crate::{used}, which comes after it",
                    relative.display()
                )),
                Some(_) => {}
                None => problems.push(format!(
                    "{} uses crate::{used}, which is not in LAYERS",
                    relative.display()
                )),
            }
        }
    }
    for module in LAYERS {
        if !seen_modules.iter().any(|m| m == module) {
            problems.push(format!("LAYERS names {module}, which has no file"));
        }
    }
    assert!(problems.is_empty(), "\n  {}", problems.join("\n  "));
}

#[test]
fn the_check_finds_what_it_looks_for() {
    let code = "use crate::{\n    catalog::{Served, Snapshot},\n    zone::Zone,\n    error,\n};\n\
                fn f() { crate::render::keyed(n); } // see crate::cli\n\
                #[cfg(test)]\nmod tests {\n    use crate::daemon::x;\n    fn g() {}\n}\n\
                #[cfg(test)]\nmod more;\nuse crate::fastpath::dataplane;\n";
    assert_eq!(
        crate_references(&without_tests(code)),
        ["catalog", "zone", "error", "render", "fastpath"]
    );
    assert!(is_test_file(Path::new("daemon/publisher/tests.rs")));
    assert!(is_test_file(Path::new("fallback/signed_tests.rs")));
    assert!(!is_test_file(Path::new("fallback/splice.rs")));
}

#[test]
fn every_path_the_readme_layout_names_exists() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = fs::read_to_string(workspace.join("README.md")).unwrap();
    let section = readme
        .split("\n## Layout")
        .nth(1)
        .expect("README.md has a Layout section");
    let section = section.split("\n## ").next().unwrap();
    let mut named = 0;
    let mut missing = Vec::new();
    // Tree lines: "  name/   what it is" or "├── name.rs  what", under "dns-xdp-user/src/".
    let mut dirs: Vec<(usize, String)> = Vec::new();
    for line in section.lines() {
        let Some(start) = line.find(|c: char| c.is_ascii_alphanumeric() || c == '.') else {
            continue;
        };
        let entry: String = line[start..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        let is_path = entry.ends_with('/') || entry.ends_with(".rs") || entry.ends_with(".toml");
        if !is_path || !line[..start].chars().all(|c| " │├└─`".contains(c)) {
            continue;
        }
        let depth = line[..start].chars().count();
        dirs.retain(|(d, _)| *d < depth);
        let base: String = dirs.iter().map(|(_, d)| d.as_str()).collect();
        let path = format!("{base}{entry}");
        named += 1;
        if !workspace.join(&path).exists() {
            missing.push(path.clone());
        }
        if entry.ends_with('/') {
            dirs.push((depth, entry));
        }
    }
    assert!(named > 20, "the Layout section names only {named} paths");
    assert!(
        missing.is_empty(),
        "README.md's Layout names paths that do not exist: {missing:?}"
    );
}
