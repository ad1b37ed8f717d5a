//! An environment opened for the commands that only use its state bucket (`history`,
//! `lock`): HEAD's `deploy.toml`, the environment named by `--env`, and AWS clients (the
//! local stack's for a `local_stack` environment, started if it is not running).

use crate::aws::{self, Clients};
use crate::cli::EnvArgs;
use crate::config::{Config, Names, FILE_NAME};
use crate::context::Context;
use crate::deploy::{environment_name, Target};
use crate::error::Error;
use crate::git::{Repo, Source as _};
use crate::report::{Reporter, Style};
use anyhow::Result;

pub struct Session {
    pub config: Config,
    pub env: String,
    pub rt: tokio::runtime::Runtime,
    pub aws: Clients,
}

impl Session {
    pub fn open(ctx: &Context, args: &EnvArgs) -> Result<Session> {
        let repo = Repo::open(&ctx.root)?;
        let head = repo.resolve("HEAD", "HEAD")?;
        let text = repo.snapshot(&head)?.read_text(FILE_NAME)?.ok_or_else(|| {
            Error::Usage(format!("HEAD has no {FILE_NAME} at the repository root"))
        })?;
        let config = Config::parse(FILE_NAME, &text)?;
        let env = environment_name(&config, args.env.as_deref())?;
        let report = Reporter::new(Style::detect(false));
        let target = Target::open(ctx, &config, &env, &report)?;
        let rt = aws::runtime()?;
        let region = config.environments[&env].region.get_ref().clone();
        let aws = rt.block_on(target.clients(&region, args.profile.as_deref()));
        Ok(Session {
            config,
            env,
            rt,
            aws,
        })
    }

    pub fn names(&self) -> Names<'_> {
        self.config.names(&self.env)
    }
}
