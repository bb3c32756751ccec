def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=f"Spark job {APP_NAME}")
    parser.add_argument(
        "--install-requirements",
        dest="nbpipe install requirements",
        action="store_true",
        help="pip install REQUIREMENTS on the driver first (Ilum installs them itself)",
    )
    for name, default in PARAMS.items():
        parser.add_argument(f"--{name}", default=None, help=f"default: {default!r}")
    args = vars(parser.parse_args(argv))
    install = args.pop("nbpipe install requirements")
    return install, {name: value for name, value in args.items() if value is not None}


def install_requirements():
    """The notebook's %pip requirements, for a spark-submit whose image lacks
    them: installed on the driver only; executors need them in the image."""
    if REQUIREMENTS:
        subprocess.check_call(
            [sys.executable, "-m", "pip", "install", "--quiet"]
            + ["--disable-pip-version-check", *REQUIREMENTS]
        )


def main(argv=None):
    install, overrides = parse_args(argv)
    if install:
        install_requirements()
    builder = SparkSession.builder.appName(APP_NAME)
    # The notebook's %%configure and spark_conf settings. A setting the
    # driver needs at launch (its memory) applies when this job starts its
    # own JVM; under spark-submit, pass it as a flag.
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    try:
        run_cells(spark, overrides)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
