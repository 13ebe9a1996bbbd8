from xentcli.entry import main

main()
