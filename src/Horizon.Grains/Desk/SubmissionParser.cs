using Horizon.Config;

namespace Horizon.Desk;

/// <summary>Turns a submission's texts into a runnable campaign (the API checks it; the distributed scheduler parses it again).</summary>
public static class SubmissionParser
{
    public static bool IsName(string name) => CampaignName.IsValid(name);

    /// <summary>Parses the submitted texts as files named "testbed" and "campaign", so errors read file:line:field.</summary>
    public static Submission Parse(CampaignSubmission s)
    {
        if (s.Campaign is not null && s.Preset is not null)
        {
            throw new ArgumentException("give campaign or preset, not both");
        }

        if (s.Preset is not null && !CampaignFile.Presets.Contains(s.Preset))
        {
            throw new ArgumentException($"preset '{s.Preset}' is not one of {string.Join(", ", CampaignFile.Presets)}");
        }

        var testbed = s.Testbed is null ? TestbedFile.Default() : TestbedFile.Parse("testbed", s.Testbed);
        var campaign = s.Campaign is not null ? CampaignFile.Parse("campaign", s.Campaign, testbed) : CampaignFile.LoadPreset(s.Preset ?? "quick", testbed);
        if (s.Name is not null)
        {
            if (CampaignName.Problem(s.Name) is { } problem)
            {
                throw new ArgumentException($"name: {problem}");
            }

            campaign = campaign with { Name = s.Name };
        }
        return new Submission(campaign.Name, testbed, campaign);
    }
}
