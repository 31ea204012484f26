#include "tools/commands.h"
namespace pbft::tools {
void add_demo_command(CLI::App&, int&) {}
}
