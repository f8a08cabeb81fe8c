//! Runs the fuzz targets round-robin for a time budget.
//!
//! ```text
//! fuzz [--seconds N] [--target NAME]... [--seed S] [--case TARGET CASE_SEED] [--replay TARGET HEX] [--list]
//! ```
//! `--seconds` is the budget per target (default 10). A failure prints the target, the run seed,
//! the case seed and a shrunk input, and exits with status 1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test tooling

use std::process::ExitCode;
use std::time::{Duration, Instant};
use tollgate_fuzz::{
    all_targets, case_input, case_seed, from_hex, minimize, run_case, set_context, show, Target,
};

struct Args {
    seconds: f64,
    targets: Vec<String>,
    seed: u64,
    case: Option<(String, u64)>,
    replay: Option<(String, Vec<u8>)>,
    list: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        seconds: 10.0,
        targets: Vec::new(),
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1),
        case: None,
        replay: None,
        list: false,
    };
    let mut it = std::env::args().skip(1);
    let num = |v: Option<String>, what: &str| -> Result<String, String> {
        v.ok_or_else(|| format!("{what} needs a value"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seconds" => {
                a.seconds = num(it.next(), "--seconds")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?
            }
            "--target" => a.targets.push(num(it.next(), "--target")?),
            "--seed" => {
                let s = num(it.next(), "--seed")?;
                a.seed = parse_u64(&s).ok_or(format!("--seed: not a number: {s}"))?;
            }
            "--case" => {
                let t = num(it.next(), "--case")?;
                let s = num(it.next(), "--case")?;
                a.case = Some((t, parse_u64(&s).ok_or(format!("--case: bad seed {s}"))?));
            }
            "--replay" => {
                let t = num(it.next(), "--replay")?;
                let h = num(it.next(), "--replay")?;
                a.replay = Some((t, from_hex(&h).ok_or("--replay: bad hex")?));
            }
            "--list" => a.list = true,
            "-h" | "--help" => {
                return Err(
                    "usage: fuzz [--seconds N per target] [--target NAME]... [--seed S] \
                     [--case TARGET CASE_SEED] [--replay TARGET HEX] [--list]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
    }
    Ok(a)
}

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn report(t: &Target, seed: u64, case: Option<(u64, u64)>, input: &[u8], failure: &str) {
    eprintln!("\nFAILURE in target `{}`", t.name);
    match case {
        Some((i, cs)) => eprintln!(
            "  run seed {seed}, iteration {i}, case seed {cs:#x}\n  reproduce: cargo run --release -p tollgate-fuzz --bin fuzz -- --case {} {cs:#x}",
            t.name
        ),
        None => eprintln!("  (replayed input)"),
    }
    eprintln!("  failure: {failure}");
    eprintln!("  input: {}", show(input));
    let small = minimize(t, input, failure, 3000);
    if small.len() < input.len() {
        let again = run_case(t, &small).err().unwrap_or_default();
        eprintln!("  minimized input: {}", show(&small));
        eprintln!("  minimized failure: {again}");
    }
    let hex: String = small.iter().map(|b| format!("{b:02x}")).collect();
    eprintln!(
        "  replay: cargo run --release -p tollgate-fuzz --bin fuzz -- --replay {} {hex}",
        t.name
    );
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let all = all_targets();
    if args.list {
        for t in &all {
            println!("{:<12} {}", t.name, t.about);
        }
        return ExitCode::SUCCESS;
    }
    let find = |name: &str| all.iter().find(|t| t.name == name);
    if let Some((name, input)) = &args.replay {
        let Some(t) = find(name) else {
            eprintln!("unknown target {name}");
            return ExitCode::from(2);
        };
        return match run_case(t, input) {
            Ok(()) => {
                println!("{name}: passes");
                ExitCode::SUCCESS
            }
            Err(e) => {
                report(t, 0, None, input, &e);
                ExitCode::FAILURE
            }
        };
    }
    if let Some((name, cs)) = &args.case {
        let Some(t) = find(name) else {
            eprintln!("unknown target {name}");
            return ExitCode::from(2);
        };
        let input = case_input(t, *cs);
        return match run_case(t, &input) {
            Ok(()) => {
                println!("{name} case {cs:#x}: passes ({})", show(&input));
                ExitCode::SUCCESS
            }
            Err(e) => {
                report(t, 0, Some((0, *cs)), &input, &e);
                ExitCode::FAILURE
            }
        };
    }
    let chosen: Vec<&Target> = if args.targets.is_empty() {
        all.iter().collect()
    } else {
        let mut v = Vec::new();
        for n in &args.targets {
            match find(n) {
                Some(t) => v.push(t),
                None => {
                    eprintln!("unknown target {n} (try --list)");
                    return ExitCode::from(2);
                }
            }
        }
        v
    };
    let budget = Duration::from_secs_f64(args.seconds.max(0.0));
    let slice = Duration::from_millis(500);
    println!(
        "fuzz: seed {}, {} targets, {:.0}s each (round-robin slices of {}ms){}",
        args.seed,
        chosen.len(),
        budget.as_secs_f64(),
        slice.as_millis(),
        if cfg!(panic = "abort") {
            "; built with panic=abort: a panic ends the run (its input is printed first)"
        } else {
            ""
        }
    );
    let started = Instant::now();
    let mut spent = vec![Duration::ZERO; chosen.len()];
    let mut iters = vec![0u64; chosen.len()];
    loop {
        let mut busy = false;
        for (k, t) in chosen.iter().enumerate() {
            if spent[k] >= budget {
                continue;
            }
            busy = true;
            let t0 = Instant::now();
            let this = slice.min(budget - spent[k]);
            while t0.elapsed() < this {
                let i = iters[k];
                let cs = case_seed(args.seed, t.name, i);
                let input = case_input(t, cs);
                if cfg!(panic = "abort") {
                    set_context(Some(format!(
                        "target `{}`, run seed {}, iteration {i}, case seed {cs:#x}\n  reproduce: --case {} {cs:#x}\n  input: {}",
                        t.name,
                        args.seed,
                        t.name,
                        show(&input)
                    )));
                }
                iters[k] += 1;
                if let Err(e) = run_case(t, &input) {
                    spent[k] += t0.elapsed();
                    report(t, args.seed, Some((i, cs)), &input, &e);
                    print_table(&chosen, &iters, &spent);
                    return ExitCode::FAILURE;
                }
            }
            spent[k] += t0.elapsed();
        }
        if !busy {
            break;
        }
    }
    print_table(&chosen, &iters, &spent);
    println!(
        "fuzz: no failures in {:.1}s (seed {})",
        started.elapsed().as_secs_f64(),
        args.seed
    );
    ExitCode::SUCCESS
}

fn print_table(chosen: &[&Target], iters: &[u64], spent: &[Duration]) {
    println!(
        "{:<12} {:>12} {:>9} {:>10}",
        "target", "iterations", "seconds", "per sec"
    );
    for (k, t) in chosen.iter().enumerate() {
        let s = spent[k].as_secs_f64();
        println!(
            "{:<12} {:>12} {:>9.1} {:>10.0}",
            t.name,
            iters[k],
            s,
            if s > 0.0 { iters[k] as f64 / s } else { 0.0 }
        );
    }
}
