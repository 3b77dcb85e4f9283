//! `gantry blob put FILE...`: uploads files to the hub's blob store and
//! prints `<sha256>  <file>` for each (the form `sha256sum` prints), so a
//! job can name them as inputs. Files the hub holds already are not sent.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::Remote;
use crate::progress::Bar;

/// Uploads each file in turn.
pub async fn put(files: &[PathBuf], remote: &Remote) -> anyhow::Result<ExitCode> {
    let client = crate::task::client(remote)?;
    for file in files {
        let (sha256, size) = gantry_client::hash_file(file).await?;
        let bar = Bar::new(&file.display().to_string(), size);
        let uploaded = client
            .upload_known(file, &sha256, size, bar.progress())
            .await
            .with_context(|| format!("cannot upload {}", file.display()))?;
        if uploaded.skipped {
            bar.add(size);
        }
        drop(bar);
        if uploaded.skipped {
            eprintln!("{}: already on the hub", file.display());
        }
        println!("{}  {}", uploaded.sha256, file.display());
    }
    Ok(ExitCode::SUCCESS)
}
