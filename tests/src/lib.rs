//! Cross-crate integration tests live in `tests/`. This library only makes
//! the code blocks of the READMEs that are not a crate's docs compile as doc
//! tests, so they cannot drift (every crate's README is its crate docs: its
//! own doc tests run them).

macro_rules! readme_doctests {
    ($($name:ident => $path:literal),* $(,)?) => {
        $(
            #[cfg(doctest)]
            #[doc = include_str!($path)]
            pub struct $name;
        )*
    };
}

readme_doctests! {
    Workspace => "../../README.md",
}
