namespace Horizon.Grains;

/// <summary>
/// The name grains ask for their state storage by. The embedded mode registers its SQLite storage under it, the
/// distributed mode Redis: grains do not know which.
/// </summary>
public static class HorizonGrainStorage
{
    public const string Name = "horizon";
}
