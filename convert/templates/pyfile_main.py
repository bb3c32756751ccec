def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=f"Spark job {APP_NAME}")
    for name, default in PARAMS.items():
        parser.add_argument(f"--{name}", default=None, help=f"default: {default!r}")
    args = parser.parse_args(argv)
    return {name: value for name, value in vars(args).items() if value is not None}


def main(argv=None):
    overrides = parse_args(argv)
    spark = SparkSession.builder.appName(APP_NAME).getOrCreate()
    try:
        run_cells(spark, overrides)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
