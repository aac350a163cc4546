//! Keeps docs/embedded-authserver-rows.md true: every test it names against a row of the
//! authserver 0.2.2 reference exists (a `fn <name>(` in tests/ or src/, or in the file a
//! `path/to/file.rs::module::name` entry names), and every table there has the
//! `| reference row | test |` shape.

use std::path::Path;

fn sources(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// The backticked names in the second cell of every table row (header and rule left out).
fn named_tests(doc: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in doc.lines().map(str::trim) {
        if !line.starts_with('|') || line.starts_with("|---") || line == "| reference row | test |"
        {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
        assert_eq!(
            cells.len(),
            2,
            "not a `| reference row | test |` row: {line}"
        );
        let tests: Vec<String> = cells[1]
            .split(',')
            .map(|t| t.trim().trim_matches('`').to_owned())
            .collect();
        assert!(
            tests.iter().all(|t| !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_:/.".contains(c))),
            "the test cell must hold backticked test names: {line}"
        );
        names.extend(tests);
    }
    names
}

#[test]
fn every_test_named_in_the_rows_table_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/embedded-authserver-rows.md")).unwrap();
    let names = named_tests(&doc);
    assert!(names.len() >= 20, "the table lost its rows: {names:?}");
    let mut code = String::new();
    sources(&root.join("tests"), &mut code);
    sources(&root.join("src"), &mut code);
    let missing: Vec<&String> = names
        .iter()
        .filter(|entry| {
            // `tests/dpop.rs::name` or `src/x.rs::tests::name`: the function in that file.
            let (file, name) = match entry.split_once("::") {
                Some((file, path)) => (Some(file), path.rsplit("::").next().unwrap_or(path)),
                None => (None, entry.as_str()),
            };
            let needle = format!("fn {name}(");
            match file {
                Some(file) => !std::fs::read_to_string(root.join(file))
                    .is_ok_and(|text| text.contains(&needle)),
                None => !code.contains(&needle),
            }
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/embedded-authserver-rows.md names tests that do not exist: {missing:?}"
    );
}
