// Starts libFuzzer's driver with the command line (see FrontEndFuzzer.swift).
import Foundation

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(runFuzzerDriver(&argc, &argv) { fuzzOneInput($0, $1) })
