from xentcli.cli import main

main()
