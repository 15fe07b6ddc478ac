//! Runs simulators until Ctrl-C and prints their base URLs and demo
//! credentials (fixed, public test values: never real secrets).
//!
//! ```text
//! cargo run -p auth-sim -- --provider all
//! cargo run -p auth-sim -- --provider wialon --provider electa
//! ```

use std::process::ExitCode;

use auth_sim::cielo24::{self, Cielo24Sim};
use auth_sim::ctc::{self, CtcSim};
use auth_sim::electa::{self, ElectaSim};
use auth_sim::plaspy::{self, PlaspySim};
use auth_sim::wialon::{self, WialonSim};

const PROVIDERS: [&str; 5] = ["ctc", "plaspy", "wialon", "cielo24", "electa"];

const USAGE: &str =
    "usage: auth-sim --provider <ctc|plaspy|wialon|cielo24|electa|all> [--provider ...]

Starts local simulators of the providers' authentication APIs on loopback
ports, prints their base URLs and demo credentials, and serves until Ctrl-C.";

fn parse(args: impl Iterator<Item = String>) -> Result<Vec<&'static str>, String> {
    let mut chosen = Vec::new();
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "--provider" | "-p" => args.next().ok_or("--provider needs a value")?,
            "--help" | "-h" => return Err(String::new()),
            other => match other.strip_prefix("--provider=") {
                Some(v) => v.to_owned(),
                None => return Err(format!("unknown argument {other:?}")),
            },
        };
        if value == "all" {
            chosen.extend(PROVIDERS);
        } else if let Some(p) = PROVIDERS.iter().find(|p| **p == value) {
            chosen.push(*p);
        } else {
            return Err(format!("unknown provider {value:?}"));
        }
    }
    if chosen.is_empty() {
        chosen.extend(PROVIDERS);
    }
    chosen.dedup();
    Ok(chosen)
}

#[tokio::main]
async fn main() -> ExitCode {
    let providers = match parse(std::env::args().skip(1)) {
        Ok(p) => p,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&providers).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("auth-sim: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(providers: &[&str]) -> Result<(), auth_sim::SimError> {
    // Keep every simulator alive until Ctrl-C.
    let mut running: Vec<Box<dyn std::any::Any>> = Vec::new();
    for provider in providers {
        match *provider {
            "ctc" => {
                let sim = CtcSim::start(Default::default()).await?;
                println!(
                    "ctc      {}  username={} password={} app key={}",
                    sim.base_url(),
                    ctc::DEMO_USERNAME,
                    ctc::DEMO_PASSWORD,
                    ctc::DEMO_APP_KEY
                );
                running.push(Box::new(sim));
            }
            "plaspy" => {
                let sim = PlaspySim::start(Default::default()).await?;
                println!(
                    "plaspy   {}  userName={} apiKey={}",
                    sim.base_url(),
                    plaspy::DEMO_USERNAME,
                    plaspy::DEMO_API_KEY
                );
                running.push(Box::new(sim));
            }
            "wialon" => {
                let sim = WialonSim::start(Default::default()).await?;
                println!("wialon   {}  token={}", sim.base_url(), wialon::DEMO_TOKEN);
                running.push(Box::new(sim));
            }
            "cielo24" => {
                let sim = Cielo24Sim::start(Default::default()).await?;
                println!(
                    "cielo24  {}  username={} password={} securekey={}",
                    sim.base_url(),
                    cielo24::DEMO_USERNAME,
                    cielo24::DEMO_PASSWORD,
                    cielo24::DEMO_SECURE_KEY
                );
                running.push(Box::new(sim));
            }
            "electa" => {
                let sim = ElectaSim::start(Default::default()).await?;
                println!(
                    "electa   {}  CID={} AppKey={}",
                    sim.base_url(),
                    electa::DEMO_CID,
                    electa::DEMO_APP_KEY
                );
                running.push(Box::new(sim));
            }
            other => unreachable!("parse() only returns known providers, got {other}"),
        }
    }
    println!("serving {} simulator(s); Ctrl-C to stop", running.len());
    tokio::signal::ctrl_c().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn args(a: &[&str]) -> impl Iterator<Item = String> {
        a.iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn parses_providers() {
        assert_eq!(parse(args(&["--provider", "all"])).unwrap().len(), 5);
        assert_eq!(parse(args(&[])).unwrap().len(), 5);
        assert_eq!(
            parse(args(&["-p", "wialon", "--provider=electa"])).unwrap(),
            vec!["wialon", "electa"]
        );
        assert!(parse(args(&["--provider", "nope"])).is_err());
        assert!(parse(args(&["--provider"])).is_err());
        assert!(parse(args(&["--bogus"])).is_err());
    }
}
