//! Cross-crate integration tests live in `tests/`. This library only makes
//! the READMEs' code blocks compile as doc tests, so they cannot drift.

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
    AuthCore => "../../crates/auth-core/README.md",
    AuthSim => "../../crates/auth-sim/README.md",
    CtcAuth => "../../crates/ctc-auth/README.md",
    PlaspyAuth => "../../crates/plaspy-auth/README.md",
    WialonToken => "../../crates/wialon-token/README.md",
    Cielo24Auth => "../../crates/cielo24-auth/README.md",
    ElectaAuth => "../../crates/electa-auth/README.md",
    AuthAll => "../../crates/auth-all/README.md",
    AuthRedis => "../../crates/auth-redis/README.md",
}
