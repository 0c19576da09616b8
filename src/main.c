/* fleetup: inventories and updates the firmware and software of server fleets. */
#include "core/cli.h"

int main(int argc, char **argv)
{
    return fu_cli_main(argc, argv);
}
