//! Prints the gas report: every on-chain path on the embedded chain, beside Nitro's published figures.
//!
//! Usage: `gas-report [--claim-sizes 1,1000,1000000]`

use std::process::ExitCode;

use ferry_simulations::anchors::Anchors;
use ferry_simulations::gas::measure;

fn parse_sizes(args: &[String]) -> Result<Vec<usize>, String> {
    let mut sizes = vec![1, 1_000, 1_000_000];
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--claim-sizes" => {
                let list = it
                    .next()
                    .ok_or("--claim-sizes needs a comma-separated list, e.g. 1,1000")?;
                sizes = list
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .parse::<usize>()
                            .map_err(|_| format!("not a size: {s:?}"))
                    })
                    .collect::<Result<_, _>>()?;
                if sizes.contains(&0) || sizes.iter().any(|&s| s > 10_000_000) {
                    return Err("claim sizes must be between 1 and 10,000,000".into());
                }
            }
            "-h" | "--help" => {
                return Err("usage: gas-report [--claim-sizes 1,1000,1000000]".into());
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: gas-report [--claim-sizes 1,1000,1000000]"
                ));
            }
        }
    }
    Ok(sizes)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes = match parse_sizes(&args) {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let anchors = Anchors::load()?;
        let report = measure(&sizes).await?;
        Ok::<_, ferry_simulations::Error>(report.render(&anchors))
    });
    match result {
        Ok(table) => {
            println!(
                "Ferry gas report (embedded chain, Osaka rules; receipt gas incl. 21,000 base and calldata)\n"
            );
            println!("{table}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gas report failed: {e}");
            ExitCode::FAILURE
        }
    }
}
